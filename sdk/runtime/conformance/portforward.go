package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Ports the port-forward tests' servers listen on inside the sandbox.
const (
	httpPort = 8080 // busybox httpd, bound to 127.0.0.1 only
	echoPort = 9000 // busybox nc running cat per connection
)

// page is what the test's httpd serves.
const page = "hello from the pod\n"

// httpServer is a container script serving page on 127.0.0.1:port.
func httpServer(port int) runtime.ContainerConfig {
	cfg := sh(fmt.Sprintf(`mkdir -p /tmp/www && printf '%%s\n' '%s' > /tmp/www/index.html && exec /bin/busybox httpd -f -p 127.0.0.1:%d -h /tmp/www`, strings.TrimSuffix(page, "\n"), port))
	cfg.Name = "httpd"
	return cfg
}

func (s *suite) testPortForward(t *testing.T) {
	netns := s.netns(t)
	sb := s.sandbox(t, runtime.SandboxConfig{NetNSPath: netns})
	// Two containers, one network namespace: both servers are reached.
	httpd := s.start(t, sb, httpServer(httpPort))
	echoCfg := sh(fmt.Sprintf(`exec /bin/busybox nc -ll -p %d -e /bin/cat`, echoPort))
	echoCfg.Name = "echo"
	echo := s.start(t, sb, echoCfg)
	s.waitState(t, httpd, runtime.StateRunning)
	s.waitState(t, echo, runtime.StateRunning)
	s.waitPort(t, sb, httpPort)
	s.waitPort(t, sb, echoPort)

	t.Run("HTTP", func(t *testing.T) {
		fw := s.forwarder(t, sb, httpPort)
		if body := fw.get(t); body != page {
			t.Errorf("GET through the forward = %q, want %q", body, page)
		}
		fw.wait(t, 1)
	})
	t.Run("Concurrent", func(t *testing.T) {
		fw := s.forwarder(t, sb, httpPort)
		const n = 8
		var wg sync.WaitGroup
		bodies := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bodies[i] = fw.get(t)
			}()
		}
		wg.Wait()
		for i, body := range bodies {
			if body != page {
				t.Errorf("concurrent GET %d = %q, want %q", i, body, page)
			}
		}
		fw.wait(t, n)
	})
	t.Run("HalfCloseAndLargeData", func(t *testing.T) {
		// The caller sends everything, half-closes, and reads the echo to
		// its end: the caller's EOF must reach cat, and cat's exit must
		// come back as EOF.
		client, server := tcpPair(t)
		done := make(chan error, 1)
		go func() {
			err := s.rt.PortForward(s.ctx(t), sb, echoPort, server)
			server.Close()
			done <- err
		}()
		payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		go func() {
			client.Write(payload)
			client.CloseWrite()
		}()
		client.SetDeadline(time.Now().Add(s.opts.Timeout))
		back, err := io.ReadAll(client)
		if err != nil {
			t.Fatalf("reading the echo: %v (after %d bytes)", err, len(back))
		}
		if !bytes.Equal(back, payload) {
			t.Errorf("echo returned %d bytes, want the %d sent", len(back), len(payload))
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("PortForward: %v, want nil after a clean close", err)
			}
		case <-time.After(s.opts.Timeout):
			t.Fatal("PortForward did not return after the connection closed both ways")
		}
	})
	t.Run("Refused", func(t *testing.T) {
		tr := &readTracker{}
		err := s.rt.PortForward(s.ctx(t), sb, 9, tr)
		wantErrorIs(t, "PortForward to a port nothing listens on", err, runtime.ErrPortForward)
		if tr.read.Load() {
			t.Error("PortForward read the caller's stream although the port refused")
		}
	})
	t.Run("OnlyLoopbackOfThePod", func(t *testing.T) {
		// A port of the test's own host is not reached: the connection is
		// made from inside the sandbox.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		err = s.rt.PortForward(s.ctx(t), sb, port, &readTracker{})
		wantErrorIs(t, "PortForward to a port open only on the host", err, runtime.ErrPortForward)
	})
	t.Run("UnknownSandbox", func(t *testing.T) {
		err := s.rt.PortForward(s.ctx(t), "conformance-unknown", httpPort, &readTracker{})
		wantErrorIs(t, "PortForward into an unknown sandbox", err, base.ErrNotFound)
	})
	t.Run("SandboxWithoutNetNS", func(t *testing.T) {
		// The runtime's own network namespace for the sandbox works too.
		own := s.sandbox(t, runtime.SandboxConfig{})
		id := s.start(t, own, httpServer(httpPort))
		s.waitState(t, id, runtime.StateRunning)
		s.waitPort(t, own, httpPort)
		fw := s.forwarder(t, own, httpPort)
		if body := fw.get(t); body != page {
			t.Errorf("GET through the forward = %q, want %q", body, page)
		}
		fw.wait(t, 1)
	})
}

// waitPort waits until a forward to port succeeds: the server in the
// sandbox is up. Each try connects and at once half-closes.
func (s *suite) waitPort(t *testing.T, sb string, port int) {
	t.Helper()
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		err := s.rt.PortForward(s.ctx(t), sb, port, &readTracker{})
		if err == nil {
			return
		}
		if !errors.Is(err, runtime.ErrPortForward) || time.Now().After(deadline) {
			t.Fatalf("port %d of sandbox %s: %v", port, sb, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readTracker is a stream that is at EOF at once and records whether it
// was read.
type readTracker struct {
	read atomic.Bool
}

func (r *readTracker) Read([]byte) (int, error)    { r.read.Store(true); return 0, io.EOF }
func (r *readTracker) Write(p []byte) (int, error) { return len(p), nil }

// forwarder is what kubectl port-forward does: a local listener whose
// every connection is one PortForward call.
type forwarder struct {
	s       *suite
	addr    string
	results chan error
}

func (s *suite) forwarder(t *testing.T, sb string, port int) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fw := &forwarder{s: s, addr: ln.Addr().String(), results: make(chan error, 64)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.rt.PortForward(ctx, sb, port, conn)
				conn.Close()
				fw.results <- err
			}()
		}
	}()
	return fw
}

// get fetches / through the forwarder on a connection of its own.
func (f *forwarder) get(t *testing.T) string {
	client := &http.Client{
		Timeout:   f.s.opts.Timeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	resp, err := client.Get("http://" + f.addr + "/")
	if err != nil {
		t.Errorf("GET through the forward: %v", err)
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET through the forward: status %s, body %q, error %v", resp.Status, body, err)
	}
	return string(body)
}

// wait checks that n forwards ended, cleanly, once their connections
// closed.
func (f *forwarder) wait(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case err := <-f.results:
			if err != nil {
				t.Errorf("PortForward %d of %d: %v, want nil after a clean close", i+1, n, err)
			}
		case <-time.After(f.s.opts.Timeout):
			t.Fatalf("only %d of %d PortForward calls returned after their connections closed", i, n)
		}
	}
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP()
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accepting a loopback connection failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}
