package rawexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Exec implements runtime.Runtime: it runs a process with the container's
// environment, working directory, user and network namespace. TTYs are not
// supported.
func (r *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	c, cdir, err := r.container(id)
	if err != nil {
		return 0, err
	}
	if started, exited := state(cdir); started == nil || exited != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, runtime.ErrContainerNotRunning)
	}
	if opts.TTY {
		return 0, fmt.Errorf("exec in container %s: rawexec has no TTY support: %w", id, base.ErrUnsupported)
	}
	if len(opts.Cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: no command: %w", id, base.ErrInvalid)
	}
	path, err := lookPath(opts.Cmd[0], c.Env)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	cmd := exec.CommandContext(ctx, path, opts.Cmd[1:]...)
	cmd.Args[0] = opts.Cmd[0]
	cmd.Env, cmd.Dir = c.Env, c.Dir
	cmd.Stdout, cmd.Stderr = orDiscard(opts.Stdout), orDiscard(opts.Stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.UID != nil || c.GID != nil {
		cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
		if c.UID != nil {
			cred.Uid = *c.UID
		}
		if c.GID != nil {
			cred.Gid = *c.GID
		}
		cmd.SysProcAttr.Credential = cred
	}
	var stdin io.WriteCloser
	if opts.Stdin != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return 0, err
		}
	}
	if err := inNetNS(c.NetNS, cmd.Start); err != nil {
		return 0, fmt.Errorf("exec %q in container %s: %w", opts.Cmd[0], id, err)
	}
	if stdin != nil {
		// Not waited for: a caller's stdin that never ends must not keep
		// Exec from returning when the command has exited.
		go func() {
			_, _ = io.Copy(stdin, opts.Stdin)
			stdin.Close()
		}()
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exitErr.ExitCode(), nil
	}
	return 0, fmt.Errorf("exec %q in container %s: %w", opts.Cmd[0], id, err)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// lookPath finds name on the PATH of env.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			continue
		}
		full := dir + "/" + name
		if st, err := os.Stat(full); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return full, nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH", name)
}

// PortForward implements runtime.Runtime: it connects to 127.0.0.1:port in
// the sandbox's network namespace, or on the host when the sandbox has
// none (rawexec makes no namespace of its own).
func (r *Runtime) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	sb, err := r.sandbox(sandboxID)
	if err != nil {
		return err
	}
	var conn net.Conn
	err = inNetNS(sb.NetNSPath, func() error {
		var d net.Dialer
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		c, err := d.DialContext(dctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		conn = c
		return err
	})
	if err != nil {
		return fmt.Errorf("port %d of sandbox %s: %v: %w", port, sandboxID, err, runtime.ErrPortForward)
	}
	defer conn.Close()

	up := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		up <- err
	}()
	down := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		if cw, ok := stream.(runtime.CloseWriter); ok {
			_ = cw.CloseWrite()
		}
		down <- err
	}()
	var upErr, downErr error
	select {
	case <-ctx.Done():
		return ctx.Err()
	case downErr = <-down:
		// The port's side ended; give the caller's side a moment.
		select {
		case upErr = <-up:
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	case upErr = <-up:
		select {
		case downErr = <-down:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if downErr != nil && !errors.Is(downErr, net.ErrClosed) {
		return fmt.Errorf("port %d of sandbox %s: %w", port, sandboxID, downErr)
	}
	if upErr != nil && !errors.Is(upErr, net.ErrClosed) && !errors.Is(upErr, io.EOF) {
		return fmt.Errorf("port %d of sandbox %s: %w", port, sandboxID, upErr)
	}
	return nil
}
