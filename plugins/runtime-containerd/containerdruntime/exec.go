package containerdruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// execIOGrace is how long Exec waits for the command's output to drain once
// it exited (a background child may hold the pipes open forever).
const execIOGrace = 2 * time.Second

// Exec runs a command in the container's namespaces, as its main process
// runs (same user, env, cwd), with FIFOs to the plugin for its streams.
func (r *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return 0, err
	}
	l, err := loadContainer(ctx, c, id)
	if err != nil {
		return 0, err
	}
	if len(opts.Cmd) == 0 {
		return 0, fmt.Errorf("exec in %s: empty command: %w", l.what(), base.ErrInvalid)
	}
	code, err := r.exec(ctx, c, l, opts)
	if err != nil {
		return 0, fmt.Errorf("exec %q in %s: %w", opts.Cmd, l.what(), err)
	}
	return code, nil
}

func (r *Runtime) exec(ctx context.Context, c *conn, l loaded, opts runtime.ExecOptions) (int, error) {
	task, err := runningTask(ctx, l)
	if err != nil {
		return 0, err
	}
	spec, err := l.ctr.Spec(ctx)
	if err != nil {
		return 0, err
	}
	pspec := *spec.Process
	pspec.Args = opts.Cmd
	pspec.Terminal = opts.TTY
	var initial *runtime.TermSize
	if opts.TTY {
		initial = pendingSize(opts.Resize)
	}
	if initial != nil {
		pspec.ConsoleSize = &specs.Box{Width: uint(initial.Width), Height: uint(initial.Height)}
	}

	var stdin *stdinCloser
	if opts.Stdin != nil {
		stdin = newStdinCloser(ctx, opts.Stdin)
		opts.Stdin = stdin
	}
	proc, err := task.Exec(ctx, "exec-"+newID()[:16], &pspec, execIO(c, opts))
	if err != nil {
		return 0, taskGone(ctx, l, err)
	}
	if stdin != nil {
		stdin.setProcess(proc)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := proc.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("deleting an exec process", "container", l.ctr.ID(), "error", err)
		}
	}()
	exitC, err := proc.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := proc.Start(ctx); err != nil {
		return 0, taskGone(ctx, l, err)
	}
	if initial != nil { // in case the OCI runtime ignored ConsoleSize
		proc.Resize(ctx, uint32(initial.Width), uint32(initial.Height))
	}
	if opts.Resize != nil {
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		go forwardResizes(rctx, proc, opts.Resize)
	}
	select {
	case es := <-exitC:
		waitIO(proc.IO())
		code, _, err := es.Result()
		return int(code), err
	case <-ctx.Done():
		proc.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return 0, ctx.Err()
	}
}

// taskGone: the container's task may exit, and be reaped, between
// runningTask's check and the exec, and the shim then answers with its own
// words ("container not created: not found", "cannot exec in a stopped
// state"). When the task no longer runs, the error says so with
// ErrContainerNotRunning.
func taskGone(ctx context.Context, l loaded, err error) error {
	if _, rerr := runningTask(context.WithoutCancel(ctx), l); errors.Is(rerr, runtime.ErrContainerNotRunning) {
		return fmt.Errorf("%w (%v)", rerr, err)
	}
	return err
}

// runningTask returns the container's task if it runs, else wraps
// ErrContainerNotRunning.
func runningTask(ctx context.Context, l loaded) (containerd.Task, error) {
	task, err := l.ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("no task: %w", runtime.ErrContainerNotRunning)
	}
	if err != nil {
		return nil, err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return nil, err
	}
	if st.Status != containerd.Running {
		return nil, fmt.Errorf("task is %s: %w", st.Status, runtime.ErrContainerNotRunning)
	}
	return task, nil
}

// execIO wires the command's streams to FIFOs under the data dir.
func execIO(c *conn, opts runtime.ExecOptions) cio.Creator {
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || opts.TTY {
		stderr = io.Discard
	}
	cioOpts := []cio.Opt{cio.WithStreams(opts.Stdin, stdout, stderr), cio.WithFIFODir(filepath.Join(c.dataDir, "fifo"))}
	if opts.TTY {
		cioOpts = append(cioOpts, cio.WithTerminal)
	}
	return cio.NewCreator(cioOpts...)
}

// waitIO waits for output to drain, then gives up on it.
func waitIO(pio cio.IO) {
	if pio == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		pio.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(execIOGrace):
		pio.Cancel()
		pio.Close()
		<-done
	}
}

// pendingSize takes the size already waiting on sizes, if any.
func pendingSize(sizes <-chan runtime.TermSize) *runtime.TermSize {
	select {
	case sz, ok := <-sizes:
		if ok {
			return &sz
		}
	default:
	}
	return nil
}

func forwardResizes(ctx context.Context, proc containerd.Process, sizes <-chan runtime.TermSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			proc.Resize(ctx, uint32(sz.Width), uint32(sz.Height))
		}
	}
}

// stdinCloser tells the shim that stdin ended once the caller's stdin
// does. Closing our end of the FIFO is not enough: the shim keeps a writer
// of its own open on it, which CloseIO(WithStdinCloser) closes.
type stdinCloser struct {
	ctx   context.Context
	r     io.Reader
	once  sync.Once
	ready chan struct{}
	proc  containerd.Process
}

func newStdinCloser(ctx context.Context, r io.Reader) *stdinCloser {
	return &stdinCloser{ctx: ctx, r: r, ready: make(chan struct{})}
}

// setProcess gives the process to close stdin of; reads may end before it
// exists.
func (s *stdinCloser) setProcess(p containerd.Process) {
	s.proc = p
	close(s.ready)
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.once.Do(func() { go s.closeIO() })
	}
	return n, err
}

func (s *stdinCloser) closeIO() {
	select {
	case <-s.ready:
	case <-s.ctx.Done():
		return
	}
	s.proc.CloseIO(s.ctx, containerd.WithStdinCloser)
}
