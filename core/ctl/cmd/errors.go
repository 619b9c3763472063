package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExitError makes skiffctl exit with Code; Err (if any) is printed first.
// It is how a command passes on an exit code other than 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageError is a mistake in how a command was called; it prints a hint
// to the command's help.
type UsageError struct {
	Cmd string // full command path, e.g. "skiffctl get"
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usageErrorf(cmdPath, format string, a ...any) error {
	return &UsageError{Cmd: cmdPath, Msg: fmt.Sprintf(format, a...)}
}

// PrintError writes err to w the way kubectl's CheckErr does and returns
// the process exit code (0 when err is nil).
func PrintError(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var exit *ExitError
	if errors.As(err, &exit) {
		code = exit.Code
		if exit.Err == nil {
			return code
		}
		err = exit.Err
	}
	for _, msg := range ErrorMessages(err) {
		if msg == "" {
			continue
		}
		fmt.Fprintln(w, strings.TrimSuffix(msg, "\n"))
	}
	return code
}

// ErrorMessages formats err as kubectl would, one message per error when
// err joins several (errors.Join).
func ErrorMessages(err error) []string {
	if err == nil {
		return nil
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range multi.Unwrap() {
			out = append(out, ErrorMessages(e)...)
		}
		return out
	}
	return []string{errorMessage(err)}
}

func errorMessage(err error) string {
	var usage *UsageError
	if errors.As(err, &usage) {
		return fmt.Sprintf("error: %s\nSee '%s -h' for help and examples", usage.Msg, usage.Cmd)
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return statusMessage(status.Status(), err.Error())
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "error: ") {
		msg = "error: " + msg
	}
	return msg
}

// statusMessage is kubectl's message for an error from the server.
func statusMessage(s metav1.Status, msg string) string {
	switch s.Reason {
	case metav1.StatusReasonUnauthorized:
		return fmt.Sprintf("error: You must be logged in to the server (%s)", s.Message)
	case metav1.StatusReasonInvalid:
		// The server's message is `Pod "x" is invalid: ...`; kubectl
		// prints it as `The Pod "x" is invalid: ...`.
		if strings.Contains(msg, " is invalid: ") {
			return "The " + msg
		}
		return "The request is invalid: " + msg
	case "":
		return "Error from server: " + msg
	}
	return fmt.Sprintf("Error from server (%s): %s", s.Reason, msg)
}

// withSource names the manifest an error about an object came from, as
// kubectl's "error when creating \"x.yaml\": ..." does. API errors keep
// their reason so they still print as errors from the server.
func withSource(verb, source string, err error) error {
	if source == "" {
		return err
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		if s.Reason == metav1.StatusReasonInvalid {
			return err // kubectl prints `The Pod "x" is invalid: ...` alone
		}
		s.Message = fmt.Sprintf("error when %s %q: %s", verb, source, s.Message)
		return &apierrors.StatusError{ErrStatus: s}
	}
	return fmt.Errorf("error when %s %q: %w", verb, source, err)
}
