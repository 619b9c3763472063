package containerdruntime

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *net.TCPConn, 1)
	go func() {
		c, _ := ln.AcceptTCP()
		got <- c
	}()
	a, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	if b = <-got; b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// relay runs copyBothWays between a "port" pair and a "caller" pair and
// returns the far ends: port is the server in the sandbox, caller the user.
func relay(t *testing.T, ctx context.Context) (port, caller *net.TCPConn, done <-chan error) {
	port, conn := tcpPair(t)
	caller, stream := tcpPair(t)
	ch := make(chan error, 1)
	go func() {
		err := copyBothWays(ctx, conn, stream)
		stream.Close() // as the SDK's server does when the call ends
		ch <- err
	}()
	return port, caller, ch
}

func within(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("copyBothWays did not return within %v", d)
		return nil
	}
}

func TestCopyBothWaysHalfCloses(t *testing.T) {
	port, caller, done := relay(t, context.Background())
	caller.Write([]byte("request"))
	caller.CloseWrite()
	req, err := io.ReadAll(port) // the caller's half-close reaches the port
	if err != nil || string(req) != "request" {
		t.Fatalf("port read %q, %v", req, err)
	}
	port.Write([]byte("response"))
	port.CloseWrite()
	resp, err := io.ReadAll(caller) // and the port's reaches the caller
	if err != nil || string(resp) != "response" {
		t.Fatalf("caller read %q, %v", resp, err)
	}
	if err := within(t, done, 5*time.Second); err != nil {
		t.Errorf("copyBothWays: %v", err)
	}
}

func TestCopyBothWaysPortHalfClosesFirst(t *testing.T) {
	port, caller, done := relay(t, context.Background())
	port.Write([]byte("banner"))
	port.CloseWrite()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(caller, buf); err != nil || string(buf) != "banner" {
		t.Fatalf("caller read %q, %v", buf, err)
	}
	// Within the linger, what the caller sends still reaches the port.
	caller.Write([]byte("late"))
	caller.CloseWrite()
	late, err := io.ReadAll(port)
	if err != nil || string(late) != "late" {
		t.Errorf("port read %q, %v after its half-close", late, err)
	}
	if err := within(t, done, 5*time.Second); err != nil {
		t.Errorf("copyBothWays: %v", err)
	}
}

func TestCopyBothWaysEndsAfterTheLinger(t *testing.T) {
	port, _, done := relay(t, context.Background())
	port.Close() // the caller never closes
	start := time.Now()
	if err := within(t, done, 5*time.Second); err != nil {
		t.Errorf("copyBothWays: %v", err)
	}
	if d := time.Since(start); d < portForwardLinger/2 {
		t.Errorf("ended after %v, before the linger", d)
	}
}

func TestCopyBothWaysContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, _, done := relay(t, ctx)
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := within(t, done, 5*time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("copyBothWays = %v, want context.Canceled", err)
	}
}
