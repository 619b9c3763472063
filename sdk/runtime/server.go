package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime/runtimepb"
)

// chunkSize bounds every streamed message: see base.StreamChunk.
const chunkSize = base.StreamChunk

// server is the plugin's side of skiff.runtime.v1: it turns RPCs into calls
// of impl and impl's errors into statuses.
type server struct {
	runtimepb.UnimplementedRuntimeServer
	impl Runtime
}

func (s *server) PullImage(ctx context.Context, req *runtimepb.PullImageRequest) (*runtimepb.PullImageResponse, error) {
	img, err := s.impl.PullImage(ctx, req.Ref, PullOptions{PlainHTTPRegistries: req.PlainHttpRegistries})
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.PullImageResponse{Image: imageToPB(img)}, nil
}

func (s *server) ImageStatus(ctx context.Context, req *runtimepb.ImageStatusRequest) (*runtimepb.ImageStatusResponse, error) {
	img, err := s.impl.ImageStatus(ctx, req.Ref)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.ImageStatusResponse{Image: imageToPB(img)}, nil
}

func (s *server) ListImages(ctx context.Context, _ *runtimepb.ListImagesRequest) (*runtimepb.ListImagesResponse, error) {
	imgs, err := s.impl.ListImages(ctx)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.ListImagesResponse{Images: imagesToPB(imgs)}, nil
}

func (s *server) ImportImages(stream runtimepb.Runtime_ImportImagesServer) error {
	imgs, err := s.impl.ImportImages(stream.Context(), &importReader{stream: stream})
	if err != nil {
		return base.ToStatus(err)
	}
	return stream.SendAndClose(&runtimepb.ImportImagesResponse{Images: imagesToPB(imgs)})
}

// importReader reads the archive out of the client's chunk stream.
type importReader struct {
	stream runtimepb.Runtime_ImportImagesServer
	buf    []byte
}

func (r *importReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		req, err := r.stream.Recv()
		if err != nil {
			return 0, err // io.EOF when the client is done
		}
		r.buf = req.Chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (s *server) RunPodSandbox(ctx context.Context, req *runtimepb.RunPodSandboxRequest) (*runtimepb.RunPodSandboxResponse, error) {
	id, err := s.impl.RunPodSandbox(ctx, sandboxConfigFromPB(req.Config))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.RunPodSandboxResponse{SandboxId: id}, nil
}

func (s *server) StopPodSandbox(ctx context.Context, req *runtimepb.StopPodSandboxRequest) (*runtimepb.StopPodSandboxResponse, error) {
	if err := s.impl.StopPodSandbox(ctx, req.SandboxId); err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.StopPodSandboxResponse{}, nil
}

func (s *server) RemovePodSandbox(ctx context.Context, req *runtimepb.RemovePodSandboxRequest) (*runtimepb.RemovePodSandboxResponse, error) {
	if err := s.impl.RemovePodSandbox(ctx, req.SandboxId); err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.RemovePodSandboxResponse{}, nil
}

func (s *server) ListSandboxes(ctx context.Context, req *runtimepb.ListSandboxesRequest) (*runtimepb.ListSandboxesResponse, error) {
	sbs, err := s.impl.ListSandboxes(ctx, req.Labels)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	out := &runtimepb.ListSandboxesResponse{}
	for _, sb := range sbs {
		out.Sandboxes = append(out.Sandboxes, sandboxToPB(sb))
	}
	return out, nil
}

func (s *server) CreateContainer(ctx context.Context, req *runtimepb.CreateContainerRequest) (*runtimepb.CreateContainerResponse, error) {
	id, err := s.impl.CreateContainer(ctx, req.SandboxId, containerConfigFromPB(req.Config))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.CreateContainerResponse{ContainerId: id}, nil
}

func (s *server) StartContainer(ctx context.Context, req *runtimepb.StartContainerRequest) (*runtimepb.StartContainerResponse, error) {
	if err := s.impl.StartContainer(ctx, req.ContainerId); err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.StartContainerResponse{}, nil
}

func (s *server) StopContainer(ctx context.Context, req *runtimepb.StopContainerRequest) (*runtimepb.StopContainerResponse, error) {
	if err := s.impl.StopContainer(ctx, req.ContainerId, durationFromPB(req.Timeout)); err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.StopContainerResponse{}, nil
}

func (s *server) RemoveContainer(ctx context.Context, req *runtimepb.RemoveContainerRequest) (*runtimepb.RemoveContainerResponse, error) {
	if err := s.impl.RemoveContainer(ctx, req.ContainerId); err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.RemoveContainerResponse{}, nil
}

func (s *server) ContainerStatus(ctx context.Context, req *runtimepb.ContainerStatusRequest) (*runtimepb.ContainerStatusResponse, error) {
	st, err := s.impl.ContainerStatus(ctx, req.ContainerId)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &runtimepb.ContainerStatusResponse{Status: containerStatusToPB(st)}, nil
}

func (s *server) ListContainers(ctx context.Context, req *runtimepb.ListContainersRequest) (*runtimepb.ListContainersResponse, error) {
	sts, err := s.impl.ListContainers(ctx, req.Labels)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	out := &runtimepb.ListContainersResponse{}
	for _, st := range sts {
		out.Containers = append(out.Containers, containerStatusToPB(st))
	}
	return out, nil
}

func (s *server) ContainerLogs(req *runtimepb.ContainerLogsRequest, stream runtimepb.Runtime_ContainerLogsServer) error {
	ctx := stream.Context()
	rc, err := s.impl.ContainerLogs(ctx, req.ContainerId, LogOptions{
		Follow:     req.Follow,
		TailLines:  req.TailLines,
		Timestamps: req.Timestamps,
	})
	if err != nil {
		return base.ToStatus(err)
	}
	// Closing rc when the caller goes away unblocks a Read stuck in follow
	// mode, should the implementation not watch ctx itself.
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	defer rc.Close()
	// An empty first chunk tells the caller the call was accepted, before
	// any log text exists.
	if err := stream.Send(&runtimepb.LogChunk{}); err != nil {
		return err
	}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if err := stream.Send(&runtimepb.LogChunk{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return base.ToStatus(ctx.Err())
			}
			return base.ToStatus(fmt.Errorf("logs of container %q: %w", req.ContainerId, rerr))
		}
	}
}

func (s *server) Exec(stream runtimepb.Runtime_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return base.ToStatus(fmt.Errorf("exec: the first message must be a start: %w", base.ErrInvalid))
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	out := &execSender{stream: stream}
	opts := ExecOptions{
		Cmd: start.Cmd,
		TTY: start.Tty,
		Stdout: out.writer(func(p []byte) *runtimepb.ExecResponse {
			return &runtimepb.ExecResponse{Msg: &runtimepb.ExecResponse_Stdout{Stdout: p}}
		}),
		Stderr: out.writer(func(p []byte) *runtimepb.ExecResponse {
			return &runtimepb.ExecResponse{Msg: &runtimepb.ExecResponse_Stderr{Stderr: p}}
		}),
	}
	var stdinW *io.PipeWriter
	if start.Stdin {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		defer stdinR.Close()
		opts.Stdin = stdinR
	}
	resize := make(chan TermSize, 4)
	if sz := start.InitialSize; sz != nil {
		resize <- TermSize{Width: uint16(sz.Width), Height: uint16(sz.Height)}
	}
	opts.Resize = resize
	go pumpExecRequests(ctx, stream, stdinW, resize)

	code, err := s.impl.Exec(ctx, start.ContainerId, opts)
	if err != nil {
		return base.ToStatus(err)
	}
	return out.send(&runtimepb.ExecResponse{Msg: &runtimepb.ExecResponse_Exit{Exit: &runtimepb.ExecExit{ExitCode: int32(code)}}})
}

// stdinQueueLen bounds how many stdin chunks wait for a command that is
// not reading them (up to 4 MiB); past that the caller's stream is held.
const stdinQueueLen = 64

// pumpExecRequests feeds the caller's stdin and resizes to the running
// command until the caller is done or ctx ends. Stdin goes through a queue
// written by another goroutine, so a command that does not read its stdin
// yet still gets its resizes.
func pumpExecRequests(ctx context.Context, stream runtimepb.Runtime_ExecServer, stdin *io.PipeWriter, resize chan TermSize) {
	defer close(resize)
	var queue chan []byte
	if stdin != nil {
		queue = make(chan []byte, stdinQueueLen)
		go writeStdin(stdin, queue)
	}
	closeQueue := func() {
		if queue != nil {
			close(queue)
			queue = nil
		}
	}
	defer closeQueue()
	for {
		req, err := stream.Recv()
		if err != nil {
			return // io.EOF or the call ended: stdin ends with it
		}
		switch m := req.Msg.(type) {
		case *runtimepb.ExecRequest_Stdin:
			if queue != nil {
				select {
				case queue <- m.Stdin:
				case <-ctx.Done():
					return
				}
			}
		case *runtimepb.ExecRequest_StdinClose:
			closeQueue()
		case *runtimepb.ExecRequest_Resize:
			offerLatest(resize, TermSize{Width: uint16(m.Resize.Width), Height: uint16(m.Resize.Height)})
		}
	}
}

// writeStdin copies queued chunks to the command's stdin and closes it when
// the queue closes. If the command stops reading, the rest is dropped.
func writeStdin(w *io.PipeWriter, queue <-chan []byte) {
	defer w.Close()
	for chunk := range queue {
		if _, err := w.Write(chunk); err != nil {
			for range queue {
			}
			return
		}
	}
}

// offerLatest queues a resize without blocking: when the command has not
// taken the previous ones, the oldest is dropped, since only the newest size
// matters.
func offerLatest(ch chan TermSize, sz TermSize) {
	for {
		select {
		case ch <- sz:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// execSender serializes sends on the exec stream: stdout and stderr are
// written from different goroutines.
type execSender struct {
	mu     sync.Mutex
	stream runtimepb.Runtime_ExecServer
}

func (s *execSender) send(m *runtimepb.ExecResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

func (s *execSender) writer(wrap func([]byte) *runtimepb.ExecResponse) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		for rest := p; len(rest) > 0; {
			n := min(len(rest), chunkSize)
			// Copy: the caller may reuse p once Write returns.
			if err := s.send(wrap(append([]byte(nil), rest[:n]...))); err != nil {
				return len(p) - len(rest), err
			}
			rest = rest[n:]
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// PortForward runs the implementation's PortForward with a stream made of
// the call: its reads are the caller's bytes (EOF at the caller's
// half-close), its writes go down, and its CloseWrite tells the caller the
// port's side stopped sending.
func (s *server) PortForward(call runtimepb.Runtime_PortForwardServer) error {
	first, err := call.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return base.ToStatus(fmt.Errorf("port forward: the first message must be a start: %w", base.ErrInvalid))
	}
	ctx, cancel := context.WithCancel(call.Context())
	defer cancel()
	stream := &portForwardStream{call: call}
	err = s.impl.PortForward(ctx, start.SandboxId, int(start.Port), stream)
	// Sending on the call after this handler returns is not allowed; an
	// implementation that left a goroutine using stream gets errors.
	stream.finish()
	return base.ToStatus(err)
}

// portForwardStream is the implementation's view of a port-forward call.
// The first Read, Write or CloseWrite tells the caller the connection is
// made: implementations connect before they touch the stream.
type portForwardStream struct {
	call runtimepb.Runtime_PortForwardServer

	rmu  sync.Mutex // one Recv at a time
	rbuf []byte
	rerr error

	mu        sync.Mutex // sends, and the flags below
	connected bool
	closed    bool // CloseWrite was sent
	finished  bool // the handler returned
}

var _ CloseWriter = (*portForwardStream)(nil)

func (p *portForwardStream) Read(b []byte) (int, error) {
	if err := p.sendLocked(nil); err != nil {
		return 0, err
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	for len(p.rbuf) == 0 {
		if p.rerr != nil {
			return 0, p.rerr
		}
		req, err := p.call.Recv()
		if err != nil {
			p.rerr = err // io.EOF at the caller's half-close
			continue
		}
		p.rbuf = req.GetData()
	}
	n := copy(b, p.rbuf)
	p.rbuf = p.rbuf[n:]
	return n, nil
}

// ReadFrom sends what r yields until its EOF, a message per Read. io.Copy
// from a connection to the stream uses it, so that each read fills one
// message; through Write, its 32 KiB reads would each take two.
func (p *portForwardStream) ReadFrom(r io.Reader) (int64, error) {
	if err := p.sendLocked(nil); err != nil {
		return 0, err
	}
	buf := make([]byte, chunkSize) // Send encodes before it returns: reusable
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := p.sendLocked(&runtimepb.PortForwardResponse{Msg: &runtimepb.PortForwardResponse_Data{Data: buf[:n]}}); serr != nil {
				return total, serr
			}
			total += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (p *portForwardStream) Write(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		err := p.sendLocked(&runtimepb.PortForwardResponse{Msg: &runtimepb.PortForwardResponse_Data{Data: rest[:n]}})
		if err != nil {
			return len(b) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(b), nil
}

// CloseWrite tells the caller that the port's side will send nothing more.
func (p *portForwardStream) CloseWrite() error {
	return p.sendLocked(&runtimepb.PortForwardResponse{Msg: &runtimepb.PortForwardResponse_CloseWrite{CloseWrite: true}})
}

// sendLocked sends connected first if it has not been sent, then msg
// (nil: nothing more).
func (p *portForwardStream) sendLocked(msg *runtimepb.PortForwardResponse) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return io.ErrClosedPipe
	}
	if !p.connected {
		if err := p.call.Send(&runtimepb.PortForwardResponse{Msg: &runtimepb.PortForwardResponse_Connected{Connected: true}}); err != nil {
			return err
		}
		p.connected = true
	}
	if msg == nil {
		return nil
	}
	if p.closed {
		if msg.GetCloseWrite() {
			return nil
		}
		return fmt.Errorf("port forward: write after CloseWrite: %w", io.ErrClosedPipe)
	}
	if err := p.call.Send(msg); err != nil {
		return err
	}
	if msg.GetCloseWrite() {
		p.closed = true
	}
	return nil
}

func (p *portForwardStream) finish() {
	p.mu.Lock()
	p.finished = true
	p.mu.Unlock()
}
