package base

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a sentinel that survives the gRPC wire: a plugin returns an error
// that wraps it (fmt.Errorf("image %q: %w", ref, runtime.ErrImageNotFound)),
// and on the core's side errors.Is(err, runtime.ErrImageNotFound) still
// holds. The Reason is what travels; the Code picks the gRPC status code.
type Error struct {
	Reason string
	Code   codes.Code
	// Text is what Error() says: short, lower case, for messages such as
	// `pull "nginx-1": image pull failed: ...`.
	Text string
}

// NewError declares a sentinel. Reasons must be unique across the SDK; by
// convention they are "<kind>.<Name>", e.g. "runtime.ImagePull".
func NewError(reason string, code codes.Code, text string) *Error {
	return &Error{Reason: reason, Code: code, Text: text}
}

func (e *Error) Error() string {
	if e.Text != "" {
		return e.Text
	}
	return e.Reason
}

// Is matches any *Error with the same reason, so a sentinel rebuilt from the
// wire equals the one declared in the SDK.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinels shared by every kind.
var (
	ErrNotFound      = NewError("base.NotFound", codes.NotFound, "not found")
	ErrAlreadyExists = NewError("base.AlreadyExists", codes.AlreadyExists, "already exists")
	ErrInvalid       = NewError("base.Invalid", codes.InvalidArgument, "invalid")
	ErrNotConfigured = NewError("base.NotConfigured", codes.FailedPrecondition, "not configured")
	ErrUnsupported   = NewError("base.Unsupported", codes.Unimplemented, "not supported")
	// ErrUnavailable is what a caller sees when the plugin process is gone
	// (crashed, being restarted): retry later.
	ErrUnavailable = NewError("base.Unavailable", codes.Unavailable, "plugin unavailable")
)

const errorDomain = "skiff.dev"

// ToStatus turns a plugin's error into a gRPC status error for the wire. The
// full message is kept; the first *Error in the chain gives code and reason.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !hasSentinel(err) {
		return err
	}
	code := codes.Unknown
	var sentinel *Error
	switch {
	case errors.As(err, &sentinel):
		code = sentinel.Code
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	st := status.New(code, err.Error())
	if sentinel != nil {
		if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: sentinel.Reason, Domain: errorDomain}); derr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

func hasSentinel(err error) bool {
	var s *Error
	return errors.As(err, &s)
}

// wireError is an error rebuilt from a gRPC status: its message is the
// plugin's, and it unwraps to the sentinel the plugin wrapped.
type wireError struct {
	msg   string
	cause error
}

func (e *wireError) Error() string { return e.msg }
func (e *wireError) Unwrap() error { return e.cause }

// FromStatus is the inverse of ToStatus, used on the caller's side.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
			return &wireError{msg: st.Message(), cause: &Error{Reason: info.Reason, Code: st.Code()}}
		}
	}
	switch st.Code() {
	case codes.Canceled:
		return &wireError{msg: st.Message(), cause: context.Canceled}
	case codes.DeadlineExceeded:
		return &wireError{msg: st.Message(), cause: context.DeadlineExceeded}
	case codes.Unavailable:
		return &wireError{msg: fmt.Sprintf("plugin unavailable: %s", st.Message()), cause: ErrUnavailable}
	case codes.NotFound:
		return &wireError{msg: st.Message(), cause: ErrNotFound}
	case codes.InvalidArgument:
		return &wireError{msg: st.Message(), cause: ErrInvalid}
	case codes.AlreadyExists:
		return &wireError{msg: st.Message(), cause: ErrAlreadyExists}
	case codes.FailedPrecondition:
		return &wireError{msg: st.Message(), cause: ErrNotConfigured}
	case codes.Unimplemented:
		// An older plugin that lacks a method answers Unimplemented.
		return &wireError{msg: st.Message(), cause: ErrUnsupported}
	}
	return &wireError{msg: st.Message(), cause: err}
}
