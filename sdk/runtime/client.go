package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime/runtimepb"
)

// client is the host's side of skiff.runtime.v1: it implements Runtime by
// calling the plugin, and turns statuses back into errors.
type client struct {
	*base.PluginClient
	c runtimepb.RuntimeClient
}

var _ Runtime = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{PluginClient: base.NewPluginClient(conn), c: runtimepb.NewRuntimeClient(conn)}
}

func (c *client) PullImage(ctx context.Context, ref string, opts PullOptions) (Image, error) {
	resp, err := c.c.PullImage(ctx, &runtimepb.PullImageRequest{Ref: ref, PlainHttpRegistries: opts.PlainHTTPRegistries})
	if err != nil {
		return Image{}, base.FromStatus(err)
	}
	return imageFromPB(resp.Image), nil
}

func (c *client) ImageStatus(ctx context.Context, ref string) (Image, error) {
	resp, err := c.c.ImageStatus(ctx, &runtimepb.ImageStatusRequest{Ref: ref})
	if err != nil {
		return Image{}, base.FromStatus(err)
	}
	return imageFromPB(resp.Image), nil
}

func (c *client) ListImages(ctx context.Context) ([]Image, error) {
	resp, err := c.c.ListImages(ctx, &runtimepb.ListImagesRequest{})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	return imagesFromPB(resp.Images), nil
}

func (c *client) ImportImages(ctx context.Context, archive io.Reader) ([]Image, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.ImportImages(ctx)
	if err != nil {
		return nil, base.FromStatus(err)
	}
	buf := make([]byte, chunkSize)
	for {
		n, rerr := archive.Read(buf)
		if n > 0 {
			// Send copies the message before returning, so buf is reusable.
			if err := stream.Send(&runtimepb.ImportImagesRequest{Chunk: buf[:n]}); err != nil {
				if errors.Is(err, io.EOF) {
					break // the plugin ended the call: CloseAndRecv has why
				}
				return nil, base.FromStatus(err)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("import images: reading the archive: %w", rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, base.FromStatus(err)
	}
	return imagesFromPB(resp.Images), nil
}

func (c *client) RunPodSandbox(ctx context.Context, cfg SandboxConfig) (string, error) {
	resp, err := c.c.RunPodSandbox(ctx, &runtimepb.RunPodSandboxRequest{Config: sandboxConfigToPB(cfg)})
	if err != nil {
		return "", base.FromStatus(err)
	}
	return resp.SandboxId, nil
}

func (c *client) StopPodSandbox(ctx context.Context, sandboxID string) error {
	_, err := c.c.StopPodSandbox(ctx, &runtimepb.StopPodSandboxRequest{SandboxId: sandboxID})
	return base.FromStatus(err)
}

func (c *client) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	_, err := c.c.RemovePodSandbox(ctx, &runtimepb.RemovePodSandboxRequest{SandboxId: sandboxID})
	return base.FromStatus(err)
}

func (c *client) ListSandboxes(ctx context.Context, labels map[string]string) ([]Sandbox, error) {
	resp, err := c.c.ListSandboxes(ctx, &runtimepb.ListSandboxesRequest{Labels: labels})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	out := make([]Sandbox, 0, len(resp.Sandboxes))
	for _, sb := range resp.Sandboxes {
		out = append(out, sandboxFromPB(sb))
	}
	return out, nil
}

func (c *client) CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error) {
	resp, err := c.c.CreateContainer(ctx, &runtimepb.CreateContainerRequest{SandboxId: sandboxID, Config: containerConfigToPB(cfg)})
	if err != nil {
		return "", base.FromStatus(err)
	}
	return resp.ContainerId, nil
}

func (c *client) StartContainer(ctx context.Context, id string) error {
	_, err := c.c.StartContainer(ctx, &runtimepb.StartContainerRequest{ContainerId: id})
	return base.FromStatus(err)
}

func (c *client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	_, err := c.c.StopContainer(ctx, &runtimepb.StopContainerRequest{ContainerId: id, Timeout: durationToPB(timeout)})
	return base.FromStatus(err)
}

func (c *client) RemoveContainer(ctx context.Context, id string) error {
	_, err := c.c.RemoveContainer(ctx, &runtimepb.RemoveContainerRequest{ContainerId: id})
	return base.FromStatus(err)
}

func (c *client) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	resp, err := c.c.ContainerStatus(ctx, &runtimepb.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return ContainerStatus{}, base.FromStatus(err)
	}
	return containerStatusFromPB(resp.Status), nil
}

func (c *client) ListContainers(ctx context.Context, labels map[string]string) ([]ContainerStatus, error) {
	resp, err := c.c.ListContainers(ctx, &runtimepb.ListContainersRequest{Labels: labels})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	out := make([]ContainerStatus, 0, len(resp.Containers))
	for _, st := range resp.Containers {
		out = append(out, containerStatusFromPB(st))
	}
	return out, nil
}

// ContainerLogs returns a reader fed by the plugin's stream. An error the
// plugin reports after the stream started comes out of Read. Close ends the
// stream.
func (c *client) ContainerLogs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.c.ContainerLogs(ctx, &runtimepb.ContainerLogsRequest{
		ContainerId: id,
		Follow:      opts.Follow,
		TailLines:   opts.TailLines,
		Timestamps:  opts.Timestamps,
	})
	if err != nil {
		cancel()
		return nil, base.FromStatus(err)
	}
	// The plugin's first (empty) chunk says it accepted the call, so errors
	// such as an unknown container come from ContainerLogs itself.
	if _, err := stream.Recv(); err != nil {
		cancel()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("logs of container %q: the plugin ended the stream at once: %w", id, base.ErrUnavailable)
		}
		return nil, base.FromStatus(err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyLogStream(stream, pw)) }()
	return &logReader{PipeReader: pr, cancel: cancel}, nil
}

func copyLogStream(stream runtimepb.Runtime_ContainerLogsClient, w io.Writer) error {
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return base.FromStatus(err)
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return err
		}
	}
}

type logReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *logReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// Exec runs the command through the plugin, streaming stdin and resizes up
// and output down, and returns the command's exit code.
func (c *client) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.Exec(ctx)
	if err != nil {
		return 0, base.FromStatus(err)
	}
	up := &execUplink{stream: stream}
	start := &runtimepb.ExecStart{ContainerId: id, Cmd: opts.Cmd, Tty: opts.TTY, Stdin: opts.Stdin != nil}
	start.InitialSize, opts.Resize = pendingSize(opts.Resize)
	if err := up.send(&runtimepb.ExecRequest{Msg: &runtimepb.ExecRequest_Start{Start: start}}); err != nil {
		return 0, execRecvError(stream, err)
	}
	if opts.Stdin != nil {
		go up.pumpStdin(opts.Stdin)
	}
	if opts.Resize != nil {
		go up.pumpResize(ctx, opts.Resize)
	}
	return receiveExec(stream, opts)
}

// pendingSize takes a size already waiting on resize, to send with the
// start. It returns the channel to keep reading (nil once closed).
func pendingSize(resize <-chan TermSize) (*runtimepb.TermSize, <-chan TermSize) {
	if resize == nil {
		return nil, nil
	}
	select {
	case sz, ok := <-resize:
		if !ok {
			return nil, nil
		}
		return &runtimepb.TermSize{Width: uint32(sz.Width), Height: uint32(sz.Height)}, resize
	default:
		return nil, resize
	}
}

// receiveExec writes the command's output until the exit message.
func receiveExec(stream runtimepb.Runtime_ExecClient, opts ExecOptions) (int, error) {
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, fmt.Errorf("exec: the plugin ended the stream without an exit code: %w", base.ErrUnavailable)
			}
			return 0, base.FromStatus(err)
		}
		switch m := resp.Msg.(type) {
		case *runtimepb.ExecResponse_Stdout:
			if _, err := stdout.Write(m.Stdout); err != nil {
				return 0, fmt.Errorf("exec: writing stdout: %w", err)
			}
		case *runtimepb.ExecResponse_Stderr:
			if _, err := stderr.Write(m.Stderr); err != nil {
				return 0, fmt.Errorf("exec: writing stderr: %w", err)
			}
		case *runtimepb.ExecResponse_Exit:
			return int(m.Exit.ExitCode), nil
		}
	}
}

// execRecvError explains a failed send: gRPC reports the real reason on
// the receiving side.
func execRecvError(stream runtimepb.Runtime_ExecClient, sendErr error) error {
	if !errors.Is(sendErr, io.EOF) {
		return base.FromStatus(sendErr)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return base.FromStatus(err)
		}
	}
}

// execUplink serializes sends: stdin and resizes come from two goroutines.
type execUplink struct {
	mu     sync.Mutex
	stream runtimepb.Runtime_ExecClient
}

func (u *execUplink) send(m *runtimepb.ExecRequest) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stream.Send(m)
}

// pumpStdin copies stdin up and then says it is closed. It returns when
// stdin ends or the stream fails; a Read that blocks forever keeps it
// alive until the stream's context ends.
func (u *execUplink) pumpStdin(stdin io.Reader) {
	buf := make([]byte, chunkSize)
	for {
		n, err := stdin.Read(buf)
		if n > 0 {
			if serr := u.send(&runtimepb.ExecRequest{Msg: &runtimepb.ExecRequest_Stdin{Stdin: buf[:n]}}); serr != nil {
				return
			}
		}
		if err != nil {
			u.send(&runtimepb.ExecRequest{Msg: &runtimepb.ExecRequest_StdinClose{StdinClose: true}})
			return
		}
	}
}

func (u *execUplink) pumpResize(ctx context.Context, resize <-chan TermSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-resize:
			if !ok {
				return
			}
			msg := &runtimepb.TermSize{Width: uint32(sz.Width), Height: uint32(sz.Height)}
			if err := u.send(&runtimepb.ExecRequest{Msg: &runtimepb.ExecRequest_Resize{Resize: msg}}); err != nil {
				return
			}
		}
	}
}

// PortForward asks the plugin to connect to the port and relays stream over
// the call: what stream reads goes up (its EOF is the call's CloseSend),
// what the port sends comes down, and the port's half-close becomes
// stream's CloseWrite. Nothing is read from stream before the plugin says
// it is connected, so a refused port leaves stream untouched.
func (c *client) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := c.c.PortForward(ctx)
	if err != nil {
		return base.FromStatus(err)
	}
	start := &runtimepb.PortForwardRequest{Msg: &runtimepb.PortForwardRequest_Start{
		Start: &runtimepb.PortForwardStart{SandboxId: sandboxID, Port: int32(port)},
	}}
	if err := call.Send(start); err != nil {
		if !errors.Is(err, io.EOF) {
			return base.FromStatus(err)
		}
		// The plugin ended the call: Recv has why.
	}
	first, err := call.Recv()
	if errors.Is(err, io.EOF) {
		return nil // the plugin ended the forward without connecting
	}
	if err != nil {
		return base.FromStatus(err)
	}
	up := &portForwardUplink{call: call, cancel: cancel}
	go up.pump(stream)
	for msg := first; ; {
		switch m := msg.Msg.(type) {
		case *runtimepb.PortForwardResponse_Data:
			if _, err := stream.Write(m.Data); err != nil {
				return fmt.Errorf("port forward to port %d of sandbox %q: writing to the caller's stream: %w", port, sandboxID, err)
			}
		case *runtimepb.PortForwardResponse_CloseWrite:
			if cw, ok := stream.(CloseWriter); ok {
				if err := cw.CloseWrite(); err != nil {
					return fmt.Errorf("port forward to port %d of sandbox %q: half-closing the caller's stream: %w", port, sandboxID, err)
				}
			}
		}
		msg, err = call.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if uerr := up.error(); uerr != nil {
				return uerr
			}
			return base.FromStatus(err)
		}
	}
}

// portForwardUplink copies the caller's stream up the call. Only its
// goroutine sends once the forward runs.
type portForwardUplink struct {
	call   runtimepb.Runtime_PortForwardClient
	cancel context.CancelFunc

	mu  sync.Mutex
	err error // reading the caller's stream failed
}

func (u *portForwardUplink) pump(stream io.Reader) {
	buf := make([]byte, chunkSize)
	for {
		n, err := stream.Read(buf)
		if n > 0 {
			// Send encodes the message before returning, so buf is reusable.
			if serr := u.call.Send(&runtimepb.PortForwardRequest{Msg: &runtimepb.PortForwardRequest_Data{Data: buf[:n]}}); serr != nil {
				return // the call ended; the receiving side reports why
			}
		}
		if errors.Is(err, io.EOF) {
			_ = u.call.CloseSend() // the caller's half-close
			return
		}
		if err != nil {
			u.mu.Lock()
			u.err = fmt.Errorf("port forward: reading the caller's stream: %w", err)
			u.mu.Unlock()
			u.cancel()
			return
		}
	}
}

func (u *portForwardUplink) error() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}
