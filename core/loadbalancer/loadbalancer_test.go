package loadbalancer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// guard bounds how long a test waits for something that should happen at
// once, so that a hung proxy fails the test instead of hanging it. No test
// relies on timing otherwise: health checks run when a test calls checkAll.
const guard = 10 * time.Second

// tcpBackend stands in for an API server on loopback: on each connection it
// sends its name and a newline, reads until EOF, answers "got N" (the bytes
// it read) and closes.
type tcpBackend struct {
	t    *testing.T
	name string
	addr string

	mu    sync.Mutex
	lis   net.Listener // nil while stopped
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func startTCPBackend(t *testing.T, name string) *tcpBackend {
	b := &tcpBackend{t: t, name: name, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	b.start()
	t.Cleanup(b.stop)
	return b
}

// start listens on b.addr: the same port again after a stop.
func (b *tcpBackend) start() {
	lis, err := net.Listen("tcp", b.addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.lis, b.addr = lis, lis.Addr().String()
	b.mu.Unlock()
	b.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.lis != lis { // stopped meanwhile
				b.mu.Unlock()
				c.Close()
				return
			}
			b.conns[c] = true
			b.mu.Unlock()
			b.wg.Go(func() { b.serve(c) })
		}
	})
}

func (b *tcpBackend) serve(c net.Conn) {
	defer c.Close()
	io.WriteString(c, b.name+"\n")
	n, _ := io.Copy(io.Discard, c)
	io.WriteString(c, "got "+strconv.FormatInt(n, 10)+"\n")
}

// stop closes the listener (new connections are refused) and every open
// connection.
func (b *tcpBackend) stop() {
	b.mu.Lock()
	if b.lis != nil {
		b.lis.Close()
		b.lis = nil
	}
	for c := range b.conns {
		c.Close()
	}
	clear(b.conns)
	b.mu.Unlock()
	b.wg.Wait()
}

type testLB struct {
	*LoadBalancer
	addr string
	stop func() error // cancels Serve and returns its error
}

// startLB serves cfg on loopback. Its health checks do not run on their
// own: tests call checkAll.
func startLB(t *testing.T, cfg Config) *testLB {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = time.Second
	}
	cfg.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	lb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb.autoCheck = false
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lb.Serve(ctx, lis) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(guard):
				serveErr = errors.New("Serve did not return after its context was cancelled")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return &testLB{LoadBalancer: lb, addr: lis.Addr().String(), stop: stop}
}

func (lb *testLB) healthy(addr string) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		if b.addr == addr {
			return b.healthy
		}
	}
	panic("no backend " + addr)
}

// connect opens a connection through the load balancer and returns it with
// the name of the backend that greeted it; it fails the test when no
// backend answers.
func (lb *testLB) connect(t *testing.T) (*net.TCPConn, string) {
	t.Helper()
	c, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(guard))
	var name []byte
	for {
		var ch [1]byte
		if _, err := c.Read(ch[:]); err != nil {
			t.Fatalf("connection through the load balancer got no greeting from a backend (read %q): %v", name, err)
		}
		if ch[0] == '\n' {
			return c.(*net.TCPConn), string(name)
		}
		name = append(name, ch[0])
	}
}

// connectN opens n connections, keeps them open, and counts them per
// backend name.
func (lb *testLB) connectN(t *testing.T, n int) (map[string]int, map[string][]net.Conn) {
	t.Helper()
	count, conns := map[string]int{}, map[string][]net.Conn{}
	for range n {
		c, name := lb.connect(t)
		count[name]++
		conns[name] = append(conns[name], c)
	}
	return count, conns
}

func checkCount(t *testing.T, what string, got map[string]int, want map[string]int) {
	t.Helper()
	for name, n := range want {
		if got[name] != n {
			t.Fatalf("%s: connections per backend = %v, want %v", what, got, want)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Fatalf("%s: connections per backend = %v, want %v", what, got, want)
		}
	}
}

// Connections held open are spread evenly (least connections).
func TestSpreadsConnections(t *testing.T) {
	a, b, c := startTCPBackend(t, "a"), startTCPBackend(t, "b"), startTCPBackend(t, "c")
	lb := startLB(t, Config{Backends: []string{a.addr, b.addr, c.addr}})
	got, _ := lb.connectN(t, 6)
	checkCount(t, "6 connections over 3 backends", got, map[string]int{"a": 2, "b": 2, "c": 2})
}

// A stopped backend is taken out by the next check and the others carry the
// clients; once it is back, a check puts it back in and it gets new
// connections again.
func TestStoppedBackendIsTakenOutAndComesBack(t *testing.T) {
	a, b, c := startTCPBackend(t, "a"), startTCPBackend(t, "b"), startTCPBackend(t, "c")
	lb := startLB(t, Config{Backends: []string{a.addr, b.addr, c.addr}})
	ctx := context.Background()
	_, conns := lb.connectN(t, 6)

	b.stop()
	for _, c := range conns["b"] { // b's clients see it go and hang up
		c.Close()
	}
	lb.checkAll(ctx)
	if lb.healthy(b.addr) {
		t.Fatalf("backend %s still healthy after a check that was refused", b.addr)
	}
	got, _ := lb.connectN(t, 4)
	checkCount(t, "b stopped", got, map[string]int{"a": 2, "c": 2})

	b.start()
	// Until a check says so, b stays out although it listens again.
	if got, _ := lb.connectN(t, 1); got["b"] != 0 {
		t.Fatalf("backend b got a connection before a check found it healthy: %v", got)
	}
	lb.checkAll(ctx)
	if !lb.healthy(b.addr) {
		t.Fatalf("backend %s still unhealthy after a good check", b.addr)
	}
	// a and c hold 4 or 5 connections, b at most its 2 old ones.
	got, _ = lb.connectN(t, 1)
	checkCount(t, "b back", got, map[string]int{"b": 1})
}

// A backend that refuses a connection before any check noticed it is down
// costs the client nothing: the next backend takes the connection, and the
// refused one is marked unhealthy at once.
func TestRefusedConnectionIsRetriedOnAnotherBackend(t *testing.T) {
	a, b := startTCPBackend(t, "a"), startTCPBackend(t, "b")
	lb := startLB(t, Config{Backends: []string{a.addr, b.addr}})
	b.stop()
	// The first connection goes to a, so b has the fewest and is tried
	// first for the second one.
	got, _ := lb.connectN(t, 4)
	checkCount(t, "b refusing", got, map[string]int{"a": 4})
	if lb.healthy(b.addr) {
		t.Errorf("backend %s still healthy after refusing a client connection", b.addr)
	}
}

// When no backend is healthy the load balancer still tries them all.
func TestNoHealthyBackendStillTriesAll(t *testing.T) {
	a := startTCPBackend(t, "a")
	lb := startLB(t, Config{Backends: []string{a.addr}})
	a.stop()
	lb.checkAll(context.Background())
	if lb.healthy(a.addr) {
		t.Fatal("stopped backend still healthy")
	}
	a.start()
	if _, name := lb.connect(t); name != "a" {
		t.Fatalf("greeted by %q", name)
	}
}

// A client that closes its write half is seen at the backend as EOF, and
// the backend's answer still comes back.
func TestHalfClose(t *testing.T) {
	a := startTCPBackend(t, "a")
	lb := startLB(t, Config{Backends: []string{a.addr}})
	c, _ := lb.connect(t)
	if _, err := io.WriteString(c, "hello"); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer after CloseWrite: %v (got %q)", err, rest)
	}
	if string(rest) != "got 5\n" {
		t.Fatalf("answer after CloseWrite = %q, want %q", rest, "got 5\n")
	}
}

// tcpPair is two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	dialed, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := lis.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close(); accepted.Close() })
	return dialed.(*net.TCPConn), accepted.(*net.TCPConn)
}

// A backend that resets its connection ends the proxying both ways, with an
// idle client that never sends or closes: no copy goroutine stays blocked
// on the client.
func TestProxyEndsWhenBackendResets(t *testing.T) {
	client, lbClient := tcpPair(t)
	lbBackend, backend := tcpPair(t)
	done := make(chan struct{})
	go func() { proxy(lbClient, lbBackend); close(done) }()

	backend.SetLinger(0) // Close sends RST
	backend.Close()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("proxy still running after the backend reset its connection: the client-to-backend copy is stuck")
	}
	client.SetDeadline(time.Now().Add(guard))
	if _, err := client.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client read after the backend reset: %v, want its connection closed", err)
	}
}

// Both sides half-closing ends the proxy.
func TestProxyEndsAfterBothHalfCloses(t *testing.T) {
	client, lbClient := tcpPair(t)
	lbBackend, backend := tcpPair(t)
	done := make(chan struct{})
	go func() { proxy(lbClient, lbBackend); close(done) }()
	client.CloseWrite()
	backend.SetDeadline(time.Now().Add(guard))
	if _, err := backend.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("backend read after client CloseWrite: %v, want EOF", err)
	}
	backend.CloseWrite()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("proxy still running after both sides closed their write halves")
	}
}

// Stopping closes the listener, cuts open connections and returns once
// every goroutine is done.
func TestStopCutsConnections(t *testing.T) {
	a := startTCPBackend(t, "a")
	lb := startLB(t, Config{Backends: []string{a.addr}})
	c, _ := lb.connect(t)
	if err := lb.stop(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after stop: %d, %v, want EOF", n, err)
	}
	if c2, err := net.Dial("tcp", lb.addr); err == nil {
		c2.Close()
		t.Fatal("load balancer still accepts connections after stop")
	}
}
