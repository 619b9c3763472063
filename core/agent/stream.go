package agent

// Exec and port-forward as the node serves them to the API server (which
// has already checked the caller and the pod): the first message names the
// pod, the agent finds the running container (exec) or the pod's sandbox
// (port-forward) by the labels it put on them, and hands the runtime
// plugin readers and writers backed by the gRPC stream.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// streamChunk is the most a stdout, stderr or port-forward message carries
// (see base.StreamChunk).
const streamChunk = base.StreamChunk

// execNotStartedCode is the exit code of a command the runtime could not
// start (not found, not executable), as docker and kubectl report it.
const execNotStartedCode = 126

// streams serves Exec and PortForward with what it needs from the agent,
// so that tests can give it a fake runtime and pods.
type streams struct {
	getPod  func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	runtime func() (runtime.Runtime, error)
}

func (s *nodeServer) streams() *streams {
	return &streams{
		getPod:  s.a.podByName,
		runtime: s.a.runtime,
	}
}

// Exec runs a command in a running container of a pod.
func (s *nodeServer) Exec(stream apipb.NodeAgent_ExecServer) error {
	return s.streams().exec(stream)
}

// PortForward connects the stream to a port of a pod.
func (s *nodeServer) PortForward(stream apipb.NodeAgent_PortForwardServer) error {
	return s.streams().portForward(stream)
}

func containerNotFound(name string) error {
	return status.Errorf(codes.FailedPrecondition, "unable to upgrade connection: container not found (%q)", name)
}

func (s *streams) exec(stream apipb.NodeAgent_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil || len(start.Command) == 0 {
		return status.Error(codes.InvalidArgument, "BadRequest: exec: the first message must name the pod and command")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pod, err := s.getPod(ctx, start.Namespace, start.Pod)
	if err != nil {
		return api.ToGRPC(err)
	}
	rt, err := s.runtime()
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	container := start.Container
	if container == "" && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	id, err := runningContainer(ctx, rt, pod, container)
	if err != nil {
		return err
	}

	out := &sender[apipb.ExecResponse]{send: stream.Send}
	opts := runtime.ExecOptions{
		Cmd: start.Command,
		TTY: start.Tty,
		Stdout: out.writer(func(p []byte) *apipb.ExecResponse {
			return &apipb.ExecResponse{Msg: &apipb.ExecResponse_Stdout{Stdout: p}}
		}),
		Stderr: out.writer(func(p []byte) *apipb.ExecResponse {
			return &apipb.ExecResponse{Msg: &apipb.ExecResponse_Stderr{Stderr: p}}
		}),
	}
	var stdin *io.PipeWriter
	if start.Stdin {
		var r *io.PipeReader
		r, stdin = io.Pipe()
		defer r.Close()
		opts.Stdin = r
	}
	resize := make(chan runtime.TermSize, 4)
	if sz := start.InitialSize; sz != nil && start.Tty {
		resize <- runtime.TermSize{Width: uint16(sz.Width), Height: uint16(sz.Height)}
	}
	opts.Resize = resize
	go pumpExecInput(ctx, stream, stdin, resize)

	code, err := rt.Exec(ctx, id, opts)
	exit := &apipb.ExecExit{ExitCode: int32(code)}
	if err != nil {
		switch msg, notStarted := notStartedMessage(err); {
		case errors.Is(err, runtime.ErrContainerNotRunning) || errors.Is(err, base.ErrNotFound):
			return containerNotFound(container)
		case notStarted:
			exit = &apipb.ExecExit{ExitCode: execNotStartedCode, Error: msg}
		case ctx.Err() != nil:
			return status.FromContextError(ctx.Err()).Err()
		default:
			return status.Errorf(codes.Internal, "error executing command in container %q of pod %q: %v", container, pod.Name, err)
		}
	}
	return out.sendMsg(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Exit{Exit: exit}})
}

// notStartedMessage recognizes the OCI runtime's refusal to start the
// command and returns its message as containerd words it.
func notStartedMessage(err error) (string, bool) {
	msg := err.Error()
	i := strings.Index(msg, "OCI runtime exec failed")
	if i < 0 {
		return "", false
	}
	return msg[i:], true
}

// runningContainer finds the runtime ID of the running instance of a pod's
// container; kubelet's "container not found" when there is none.
func runningContainer(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, container string) (string, error) {
	cs, err := rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID), LabelContainer: container})
	if err != nil {
		return "", status.Error(codes.Unavailable, base.ToStatus(err).Error())
	}
	for _, inst := range groupInstances(cs)[container] {
		if inst.State == runtime.StateRunning {
			return inst.ID, nil
		}
	}
	return "", containerNotFound(container)
}

// pumpExecInput feeds the caller's stdin and resizes to the command until
// the caller is done or ctx ends. Stdin is written from its own goroutine
// through a queue, so that resizes pass while the command does not read.
func pumpExecInput(ctx context.Context, stream apipb.NodeAgent_ExecServer, stdin *io.PipeWriter, resize chan<- runtime.TermSize) {
	var queue chan []byte
	if stdin != nil {
		queue = make(chan []byte, 64)
		go func(queue <-chan []byte) {
			defer stdin.Close()
			for p := range queue {
				if _, err := stdin.Write(p); err != nil {
					for range queue { // drain: the command stopped reading
					}
					return
				}
			}
		}(queue)
	}
	closeStdin := func() {
		if queue != nil {
			close(queue)
			queue = nil
		}
	}
	defer closeStdin()
	for {
		req, err := stream.Recv()
		if err != nil {
			return // io.EOF (stdin ends with it) or the call ended
		}
		switch m := req.Msg.(type) {
		case *apipb.ExecRequest_Stdin:
			if queue != nil {
				select {
				case queue <- m.Stdin:
				case <-ctx.Done():
					return
				}
			}
		case *apipb.ExecRequest_StdinClose:
			closeStdin()
		case *apipb.ExecRequest_Resize:
			if m.Resize == nil {
				continue
			}
			sz := runtime.TermSize{Width: uint16(m.Resize.Width), Height: uint16(m.Resize.Height)}
			select {
			case resize <- sz:
			default: // the runtime is behind: drop this one, a newer one follows
			}
		}
	}
}

func (s *streams) portForward(stream apipb.NodeAgent_PortForwardServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "BadRequest: port-forward: the first message must name the pod and port")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pod, err := s.getPod(ctx, start.Namespace, start.Pod)
	if err != nil {
		return api.ToGRPC(err)
	}
	rt, err := s.runtime()
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	sbs, err := rt.ListSandboxes(ctx, map[string]string{LabelPodUID: string(pod.UID)})
	if err != nil {
		return status.Error(codes.Unavailable, base.ToStatus(err).Error())
	}
	if len(sbs) == 0 {
		return status.Errorf(codes.FailedPrecondition, "unable to do port forwarding: pod %q in %q has no sandbox on this node", pod.Name, pod.Namespace)
	}
	sb := sbs[0]
	for _, s := range sbs[1:] {
		if s.CreatedAt.After(sb.CreatedAt) {
			sb = s
		}
	}
	conn := &forwardStream{recv: stream.Recv, out: sender[apipb.PortForwardResponse]{send: stream.Send}}
	err = rt.PortForward(ctx, sb.ID, int(start.Port), conn)
	if err != nil {
		if ctx.Err() != nil {
			return status.FromContextError(ctx.Err()).Err()
		}
		return status.Errorf(codes.Unavailable, "error forwarding port %d to pod %s, uid %s: %v", start.Port, pod.Name, pod.UID, err)
	}
	return nil
}

// forwardStream is the caller's end of a forwarded connection as the
// runtime sees it: Read returns what the caller sends and io.EOF once it
// closed its send side (its half-close); Write sends; CloseWrite tells the
// caller the pod's end stopped sending. A pending Read ends with the call.
type forwardStream struct {
	recv func() (*apipb.PortForwardRequest, error)
	buf  []byte
	eof  error
	out  sender[apipb.PortForwardResponse]
}

var _ runtime.CloseWriter = (*forwardStream)(nil)

func (f *forwardStream) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		if f.eof != nil {
			return 0, f.eof
		}
		m, err := f.recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				err = fmt.Errorf("port-forward stream: %w", err)
			}
			f.eof = err
			continue
		}
		f.buf = m.GetData()
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

func (f *forwardStream) Write(p []byte) (int, error) {
	return f.out.writer(func(b []byte) *apipb.PortForwardResponse {
		return &apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_Data{Data: b}}
	}).Write(p)
}

func (f *forwardStream) CloseWrite() error {
	return f.out.sendMsg(&apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_CloseWrite{CloseWrite: true}})
}

// sender serializes sends on a stream: a runtime may write stdout and
// stderr from two goroutines, and gRPC allows one sender at a time.
type sender[T any] struct {
	mu   sync.Mutex
	send func(*T) error
}

func (s *sender[T]) sendMsg(m *T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.send(m)
}

// writer returns a Writer that sends what is written in chunks, each in a
// message made by wrap. Send encodes the message before it returns, so p is
// not kept and needs no copy.
func (s *sender[T]) writer(wrap func([]byte) *T) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		written := 0
		for len(p) > 0 {
			n := min(len(p), streamChunk)
			if err := s.sendMsg(wrap(p[:n])); err != nil {
				return written, err
			}
			written += n
			p = p[n:]
		}
		return written, nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
