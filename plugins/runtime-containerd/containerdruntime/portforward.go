package containerdruntime

import (
	"context"
	"fmt"
	"io"
	"net"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/vishvananda/netns"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Port-forward tuning.
const (
	// portForwardDialTimeout bounds the connect inside the sandbox.
	portForwardDialTimeout = 10 * time.Second
	// portForwardLinger is how long the caller's side may go on once the
	// port's side has closed, for a port that only half-closed and still
	// reads. A caller that closes at once ends the forward at once.
	portForwardLinger = time.Second
)

// PortForward connects to 127.0.0.1:port inside the sandbox's network
// namespace and copies between that connection and stream.
func (r *Runtime) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	sb, err := loadSandbox(ctx, c, sandboxID)
	if err != nil {
		return fmt.Errorf("port forward: %w", err)
	}
	what := fmt.Sprintf("port forward to port %d of pod %q", port, sb.podName())
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: not a TCP port: %w", what, base.ErrInvalid)
	}
	path := sandboxNamespaces(c.dataDir, sb).Net
	if !isNamespaceFile(path) {
		return fmt.Errorf("%s: the sandbox's network namespace %s is not there: %w", what, path, runtime.ErrPortForward)
	}
	conn, err := dialInNetNS(ctx, path, port)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, runtime.ErrPortForward, err)
	}
	if err := copyBothWays(ctx, conn, stream); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// dialInNetNS connects to 127.0.0.1:port from inside the network namespace
// at path. Only the socket is made there: a socket stays in the namespace it
// was created in, so the connection works from any thread afterwards.
func dialInNetNS(ctx context.Context, path string, port int) (*net.TCPConn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// A goroutine of its own, locked to its thread while the thread is
		// in the sandbox's namespace. Should switching back fail, it stays
		// locked, and the Go runtime ends the thread when it returns.
		goruntime.LockOSThread()
		conn, restored, err := dialFromThread(ctx, path, port)
		if restored {
			goruntime.UnlockOSThread()
		}
		done <- result{conn, err}
	}()
	res := <-done
	if res.err != nil {
		return nil, res.err
	}
	return res.conn.(*net.TCPConn), nil
}

// dialFromThread runs on a locked thread: it moves the thread into the
// namespace, dials, and moves it back, reporting whether that worked.
func dialFromThread(ctx context.Context, path string, port int) (conn net.Conn, restored bool, err error) {
	orig, err := netns.Get()
	if err != nil {
		return nil, true, fmt.Errorf("the thread's network namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromPath(path)
	if err != nil {
		return nil, true, fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return nil, true, fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	d := net.Dialer{Timeout: portForwardDialTimeout}
	conn, err = d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if serr := netns.Set(orig); serr != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, false, fmt.Errorf("returning from network namespace %s: %w", path, serr)
	}
	return conn, true, err
}

// copyBothWays copies between conn and stream until the connection has
// ended both ways, passing half-closes on, then closes conn. See the
// contract of PortForward.
func copyBothWays(ctx context.Context, conn *net.TCPConn, stream io.ReadWriter) error {
	defer conn.Close()
	up := make(chan error, 1)   // caller to port
	down := make(chan error, 1) // port to caller
	go func() {
		_, err := io.Copy(conn, stream)
		if err == nil { // the caller's EOF: half-close towards the port
			err = conn.CloseWrite()
		}
		up <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		if err == nil { // the port's EOF: half-close towards the caller
			if cw, ok := stream.(runtime.CloseWriter); ok {
				err = cw.CloseWrite()
			}
		}
		down <- err
	}()
	var linger <-chan time.Time
	for up != nil || down != nil {
		select {
		case err := <-up:
			up = nil
			if err != nil {
				return fmt.Errorf("from the caller: %w", err)
			}
		case err := <-down:
			down = nil
			if err != nil {
				return fmt.Errorf("to the caller: %w", err)
			}
			if up != nil {
				t := time.NewTimer(portForwardLinger)
				defer t.Stop()
				linger = t.C
			}
		case <-linger:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
