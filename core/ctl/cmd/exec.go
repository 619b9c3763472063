package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/sdk/base"
)

const execUsage = "expected 'exec (POD | TYPE/NAME) COMMAND [ARG1] [ARG2] ... [ARGN]'.\nPOD or TYPE/NAME and COMMAND are required arguments for the exec command"

// noTTYWarning is kubectl's note when -t is asked but stdin is no terminal.
const noTTYWarning = "Unable to use a TTY - input is not a terminal or the right kind of file"

// interruptedCode is the exit code of an exec interrupted by a signal
// (128+SIGINT, as a shell reports a process SIGINT killed).
const interruptedCode = 130

// execChunk is the most one stdin or port-forward message carries (see
// base.StreamChunk).
const execChunk = base.StreamChunk

// ExecOptions are the options of `skiffctl exec`.
type ExecOptions struct {
	IOStreams
	f Factory

	Container string
	Stdin     bool
	TTY       bool
	Quiet     bool

	pod       string
	namespace string
	command   []string

	// term is the local terminal; nil means the one behind In, if any.
	term terminal
}

// terminal is the local terminal exec -t drives.
type terminal interface {
	// MakeRaw puts it in raw mode and returns how to restore it.
	MakeRaw() (restore func(), err error)
	// Size is its size now; ok is false when unknown.
	Size() (width, height uint16, ok bool)
	// Resized signals each change of size until ctx ends.
	Resized(ctx context.Context) <-chan struct{}
}

// fdTerminal is a real terminal: stdin, with the size read from stdout
// when that is a terminal too (as kubectl does), else from stdin.
type fdTerminal struct{ in, size uintptr }

func (t fdTerminal) MakeRaw() (func(), error)                    { return makeRaw(t.in) }
func (t fdTerminal) Size() (uint16, uint16, bool)                { return terminalSize(t.size) }
func (t fdTerminal) Resized(ctx context.Context) <-chan struct{} { return watchResize(ctx) }

// localTerminal returns the terminal behind in, or nil when in is not one.
func localTerminal(in io.Reader, out io.Writer) terminal {
	f, ok := in.(*os.File)
	if !ok || !isTerminal(f.Fd()) {
		return nil
	}
	t := fdTerminal{in: f.Fd(), size: f.Fd()}
	if o, ok := out.(*os.File); ok && isTerminal(o.Fd()) {
		t.size = o.Fd()
	}
	return t
}

// NewCmdExec returns `skiffctl exec`.
func NewCmdExec(f Factory, streams IOStreams) *cobra.Command {
	o := &ExecOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "exec (POD | TYPE/NAME) [-c CONTAINER] [flags] -- COMMAND [args...]",
		DisableFlagsInUseLine: true,
		Short:                 "Execute a command in a container",
		Long:                  "Execute a command in a container.",
		Example: `  # Get output from running the 'date' command from pod mypod, using the first container by default
  skiffctl exec mypod -- date

  # Get output from running the 'date' command in ruby-container from pod mypod
  skiffctl exec mypod -c ruby-container -- date

  # Switch to raw terminal mode; sends stdin to 'bash' in ruby-container from pod mypod
  # and sends stdout/stderr from 'bash' back to the client
  skiffctl exec mypod -c ruby-container -i -t -- bash -il

  # List contents of /usr from the first container of pod mypod and sort by modification time
  # If the command you want to execute in the pod has any flags in common (e.g. -i),
  # you must use two dashes (--) to separate your command's flags/arguments
  # Also note, do not surround your command and its flags/arguments with quotes
  # unless that is how you would execute it normally (i.e., do ls -t /usr, not "ls -t /usr")
  skiffctl exec mypod -i -t -- ls -t /usr`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args, cmd.ArgsLenAtDash()); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Container, "container", "c", "", "Container name. If omitted, use the kubectl.kubernetes.io/default-container annotation for selecting the container to be attached or the first container in the pod will be chosen")
	fl.BoolVarP(&o.Stdin, "stdin", "i", false, "Pass stdin to the container")
	fl.BoolVarP(&o.TTY, "tty", "t", false, "Stdin is a TTY")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Only print output from the remote session")
	return cmd
}

// Complete reads POD and the command after "--".
func (o *ExecOptions) Complete(cmd *cobra.Command, args []string, argsLenAtDash int) error {
	if len(args) == 0 || argsLenAtDash == 0 {
		return usageErrorf(cmd.CommandPath(), "%s", execUsage)
	}
	switch {
	case argsLenAtDash > 0:
		if argsLenAtDash > 1 {
			return usageErrorf(cmd.CommandPath(), "%s", execUsage)
		}
		o.command = args[argsLenAtDash:]
	case len(args) > 1:
		return fmt.Errorf("exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead")
	}
	pod, err := podNameArg(args[0], "exec into")
	if err != nil {
		return err
	}
	o.pod = pod
	o.namespace, _ = o.f.Namespace()
	return nil
}

// podNameArg accepts NAME or pod/NAME (pods/NAME, po/NAME).
func podNameArg(arg, verb string) (string, error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	res, err := api.Lookup(typ)
	if err != nil {
		return "", err
	}
	if res.Name != api.Pods.Name {
		return "", fmt.Errorf("cannot %s a %s: only pods are supported (POD or pod/NAME)", verb, res.Kind)
	}
	if name == "" {
		return "", fmt.Errorf("arguments in resource/name form must have a single resource and name")
	}
	return name, nil
}

// Validate checks that there is a pod and a command.
func (o *ExecOptions) Validate() error {
	if o.pod == "" {
		return fmt.Errorf("pod, type/name or --filename must be specified")
	}
	if len(o.command) == 0 {
		return fmt.Errorf("you must specify at least one command for the container")
	}
	return nil
}

// Run execs the command and passes its exit code on.
func (o *ExecOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var pod corev1.Pod
	if err := c.Get(ctx, api.Pods, o.namespace, o.pod, &pod); err != nil {
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	container := o.Container
	if container == "" {
		if container, err = o.defaultContainer(&pod); err != nil {
			return err
		}
	}

	stdin, tty := o.Stdin, o.TTY
	var term terminal
	switch {
	case !stdin:
		tty = false // kubectl: a TTY needs stdin
	case tty:
		if term = o.term; term == nil {
			term = localTerminal(o.In, o.Out)
		}
		if term == nil {
			tty = false
			if !o.Quiet {
				fmt.Fprintln(o.ErrOut, noTTYWarning)
			}
		}
	}

	start := &apipb.ExecStart{
		Namespace: o.namespace, Pod: o.pod, Container: container,
		Command: o.command, Tty: tty, Stdin: stdin,
	}
	exit, err := o.stream(ctx, c.API, start, term)
	if err != nil {
		if ctx.Err() != nil {
			// Interrupted (SIGINT): end quietly, as a shell reports a
			// command killed by it.
			return &ExitError{Code: interruptedCode}
		}
		return api.FromGRPC(err)
	}
	if exit.Error != "" {
		fmt.Fprintln(o.ErrOut, exit.Error)
	}
	if exit.ExitCode != 0 {
		fmt.Fprintf(o.ErrOut, "command terminated with exit code %d\n", exit.ExitCode)
		return &ExitError{Code: int(exit.ExitCode)}
	}
	return nil
}

// defaultContainer is kubectl's choice: the default-container annotation,
// else the first container, with a note when there was a choice.
func (o *ExecOptions) defaultContainer(pod *corev1.Pod) (string, error) {
	if def := pod.Annotations[DefaultContainerAnnotation]; def != "" {
		if hasContainer(pod, def) {
			return def, nil
		}
		fmt.Fprintf(o.ErrOut, "Default container name %q not found in pod %s\n", def, pod.Name)
	}
	if len(pod.Spec.Containers) == 0 {
		return "", fmt.Errorf("pod %s has no containers", pod.Name)
	}
	name := pod.Spec.Containers[0].Name
	if !o.Quiet && (len(pod.Spec.Containers) > 1 || len(pod.Spec.InitContainers) > 0 || len(pod.Spec.EphemeralContainers) > 0) {
		fmt.Fprintf(o.ErrOut, "Defaulted container %q out of: %s\n", name, allContainerNames(pod))
	}
	return name, nil
}

// allContainerNames lists a pod's containers as kubectl's note does.
func allContainerNames(pod *corev1.Pod) string {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name+" (ephem)")
	}
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name+" (init)")
	}
	return strings.Join(names, ", ")
}

// execSender serializes sends: stdin and resizes come from two goroutines.
type execSender struct {
	mu     sync.Mutex
	stream apipb.Skiff_ExecClient
}

func (s *execSender) send(m *apipb.ExecRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

// stream runs the Exec call: the start (with the terminal's size), stdin
// and resizes up, output down, until the exit message. With a terminal it
// is in raw mode for the duration.
func (o *ExecOptions) stream(ctx context.Context, c apipb.SkiffClient, start *apipb.ExecStart, term terminal) (*apipb.ExecExit, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := c.Exec(ctx)
	if err != nil {
		return nil, err
	}
	up := &execSender{stream: call}
	if start.Tty {
		if w, h, ok := term.Size(); ok {
			start.InitialSize = &apipb.TermSize{Width: uint32(w), Height: uint32(h)}
		}
		restore, err := term.MakeRaw()
		if err != nil {
			return nil, fmt.Errorf("unable to put the terminal in raw mode: %w", err)
		}
		defer restore()
		go sendResizes(ctx, up, term)
	}
	if err := up.send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Start{Start: start}}); err != nil {
		return nil, callError(call, err)
	}
	if start.Stdin {
		go sendStdin(up, o.In)
	} else {
		_ = call.CloseSend()
	}
	stdout, stderr := o.Out, o.ErrOut
	for {
		resp, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("exec: the server ended the stream without an exit code")
		}
		if err != nil {
			return nil, err
		}
		switch m := resp.Msg.(type) {
		case *apipb.ExecResponse_Stdout:
			if _, err := stdout.Write(m.Stdout); err != nil {
				return nil, err
			}
		case *apipb.ExecResponse_Stderr:
			if _, err := stderr.Write(m.Stderr); err != nil {
				return nil, err
			}
		case *apipb.ExecResponse_Exit:
			return m.Exit, nil
		}
	}
}

// callError explains a failed send: gRPC reports why a stream ended on its
// receiving side.
func callError(call apipb.Skiff_ExecClient, sendErr error) error {
	if !errors.Is(sendErr, io.EOF) {
		return sendErr
	}
	for {
		if _, err := call.Recv(); err != nil {
			return err
		}
	}
}

// sendStdin copies in up, then says stdin is closed. A Read that blocks
// forever (a terminal) keeps it alive until the process ends.
func sendStdin(up *execSender, in io.Reader) {
	buf := make([]byte, execChunk)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if serr := up.send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Stdin{Stdin: buf[:n]}}); serr != nil {
				return
			}
		}
		if err != nil {
			// The send side stays open: resizes may follow.
			_ = up.send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_StdinClose{StdinClose: true}})
			return
		}
	}
}

// sendResizes sends the terminal's size each time it changes.
func sendResizes(ctx context.Context, up *execSender, term terminal) {
	for range term.Resized(ctx) {
		if w, h, ok := term.Size(); ok {
			if up.send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Resize{Resize: &apipb.TermSize{Width: uint32(w), Height: uint32(h)}}}) != nil {
				return
			}
		}
	}
}
