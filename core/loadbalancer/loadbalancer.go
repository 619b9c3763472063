// Package loadbalancer is `skiffd loadbalancer`: the one address in front of
// an HA control plane's API servers, as the haproxy that kind runs in its
// external-load-balancer container.
//
// # Design
//
// It is an L4 TCP proxy. TLS passes through untouched: the client's TLS
// session ends at the API server, which needs the client certificate (it is
// the caller's identity), and the client verifies the API server's
// certificate, whose SANs include the load balancer's address. The load
// balancer holds no key.
//
// A new connection goes to the backend with the fewest open connections,
// ties broken round robin. Least connections rather than plain round robin
// because API connections are long-lived: gRPC multiplexes every call and
// watch of a client on one HTTP/2 connection that lasts as long as the
// client, so what matters is how many connections a server holds, not how
// many it was handed. An API server that comes back after a restart holds
// none; round robin would give it one new connection in N while the others
// keep every agent's watch, least connections sends it new ones until it has
// caught up. (haproxy recommends leastconn for long sessions for the same
// reason.) The round-robin tie break spreads short connections evenly.
//
// Each backend is checked every interval, all backends at once. With a CA, a
// check is a TCP connect, a TLS handshake verified against the CA with the
// backend's IP as server name, and a grpc.health.v1 Check of service "" that
// must answer SERVING (an API server says SERVING only while its etcd has
// quorum); a server without the health service (Unimplemented) counts as
// healthy, its handshake having worked. Without a CA a check is a TCP
// connect. A backend turns unhealthy after two failed checks in a row, or at
// once when its connection is refused (nothing listens there: the process is
// gone), and healthy again after one good check. A client connection refused
// by a backend marks it unhealthy too, without waiting for the next check.
// Transitions are logged.
//
// A client's connection is tried on the healthy backends, fewest
// connections first, then, as a last resort, on the unhealthy ones: when
// every backend looks down (a blip, or a wrong check) the load balancer
// keeps trying rather than refusing everyone. A backend that fails to
// connect is skipped for the next one, so a server that stopped between two
// checks costs its clients a retry here, not an error.
//
// Proxying copies both ways. When one side is done sending (EOF) the other
// side's write half is closed (CloseWrite), so half-closed connections work;
// an error either way closes both connections, so no copy is left blocked.
// Stopping (the context is cancelled) closes the listener, cuts the open
// connections and waits for every goroutine.
package loadbalancer

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/pki"
)

const (
	// unhealthyAfter failed checks in a row take a backend out.
	unhealthyAfter = 2
	// dialTimeout bounds a connection attempt to a backend that does not
	// answer at all, before the next backend is tried.
	dialTimeout = 3 * time.Second
)

// Config is the load balancer's configuration; its fields are the flags of
// `skiffd loadbalancer`, whose names the validation errors use.
type Config struct {
	// Listen is IP:PORT to serve on (port 0: any free port).
	Listen string
	// Backends are the API servers, IP:PORT each.
	Backends []string
	// CAFile is the cluster CA (PEM). With it, checks are gRPC health
	// checks over TLS verified against it; without, TCP connects.
	CAFile string
	// HealthInterval is how often every backend is checked.
	HealthInterval time.Duration
	// Log receives health transitions and failed connections (nil: none).
	Log *slog.Logger
}

// LoadBalancer proxies connections to healthy backends.
type LoadBalancer struct {
	cfg       Config
	log       *slog.Logger
	tls       *tls.Config // nil: TCP checks
	dialer    net.Dialer
	autoCheck bool // run checks every interval while serving (tests check by hand)

	mu       sync.Mutex
	backends []*backend
	next     int    // round-robin tie break: where the next order starts
	connSeq  uint64 // numbers proxied connections (backend.cuts)
}

type backend struct {
	addr string
	// Guarded by LoadBalancer.mu.
	healthy bool
	fails   int // failed checks in a row
	active  int // open proxied connections
	// cuts close each open proxied connection, by connection number: a
	// backend that turns unhealthy has its connections cut (haproxy's
	// on-marked-down shutdown-sessions), so that long-lived clients
	// (agents' gRPC connections) reconnect to a healthy one.
	cuts map[uint64]func()
}

// New validates cfg and loads its CA. Backends start healthy; the first
// round of checks runs as soon as Serve starts.
func New(cfg Config) (*LoadBalancer, error) {
	addrs, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	lb := &LoadBalancer{cfg: cfg, log: cfg.Log, dialer: net.Dialer{Timeout: dialTimeout}, autoCheck: true}
	if lb.log == nil {
		lb.log = slog.New(slog.DiscardHandler)
	}
	if cfg.CAFile != "" {
		pool, err := pki.LoadCertPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		lb.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	for _, a := range addrs {
		lb.backends = append(lb.backends, &backend{addr: a.String(), healthy: true})
	}
	return lb, nil
}

func (c Config) validate() ([]netip.AddrPort, error) {
	listen, err := parseAddr("listen", c.Listen)
	if err != nil {
		return nil, err
	}
	if len(c.Backends) == 0 {
		return nil, errors.New("at least one --backend IP:PORT is required")
	}
	var addrs []netip.AddrPort
	for _, s := range c.Backends {
		a, err := parseAddr("backend", s)
		if err != nil {
			return nil, err
		}
		switch {
		case a.Port() == 0:
			return nil, fmt.Errorf("--backend %s: port 0 cannot be connected to", s)
		case a.Addr().IsUnspecified():
			return nil, fmt.Errorf("--backend %s: give the API server's own IP, not an unspecified address", s)
		case a == listen:
			return nil, fmt.Errorf("--backend %s is the --listen address: the load balancer would connect to itself", s)
		case slices.Contains(addrs, a):
			return nil, fmt.Errorf("--backend %s is given twice", s)
		}
		addrs = append(addrs, a)
	}
	if c.HealthInterval <= 0 {
		return nil, fmt.Errorf("--health-interval %s: must be positive", c.HealthInterval)
	}
	return addrs, nil
}

func parseAddr(flag, s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, fmt.Errorf("--%s IP:PORT is required", flag)
	}
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("--%s %q: want IP:PORT, e.g. 10.0.0.2:6443 or [fd00::2]:6443", flag, s)
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), nil
}

// Serve proxies the connections lis accepts until ctx is done, then closes
// lis, cuts the open connections and returns once every goroutine is done.
// The error is nil when ctx ended it.
func (lb *LoadBalancer) Serve(ctx context.Context, lis net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if lb.autoCheck {
		wg.Go(func() { lb.checkLoop(ctx) })
	}
	stopClose := context.AfterFunc(ctx, func() { lis.Close() })
	lb.log.Info("load balancer serving", "listen", lis.Addr().String(), "backends", strings.Join(lb.addrs(), ","), "checks", lb.checkKind())
	var err error
	for {
		conn, aerr := lis.Accept()
		if aerr == nil {
			wg.Go(func() { lb.handle(ctx, conn) })
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(aerr, syscall.EMFILE) || errors.Is(aerr, syscall.ENFILE) {
			// Out of file descriptors: wait for connections to end.
			lb.log.Warn("accept failed, retrying", "err", aerr)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		err = fmt.Errorf("accept on %s: %w", lis.Addr(), aerr)
		break
	}
	stopClose()
	lis.Close()
	cancel()
	wg.Wait()
	return err
}

func (lb *LoadBalancer) addrs() []string {
	var out []string
	for _, b := range lb.backends {
		out = append(out, b.addr)
	}
	return out
}

func (lb *LoadBalancer) checkKind() string {
	if lb.tls != nil {
		return "gRPC health over TLS"
	}
	return "TCP connect"
}

// handle proxies one client connection to a backend.
func (lb *LoadBalancer) handle(ctx context.Context, client net.Conn) {
	defer client.Close()
	b, conn, err := lb.connect(ctx)
	if err != nil {
		if ctx.Err() == nil {
			lb.log.Warn("client connection dropped", "client", client.RemoteAddr().String(), "err", err)
		}
		return
	}
	closeBoth := func() { client.Close(); conn.Close() }
	id := lb.track(b, closeBoth)
	defer lb.release(b, id)
	cut := context.AfterFunc(ctx, closeBoth)
	defer cut()
	proxy(client, conn)
}

// track records an open connection to b and how to cut it.
func (lb *LoadBalancer) track(b *backend, cut func()) uint64 {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.connSeq++
	if b.cuts == nil {
		b.cuts = map[uint64]func(){}
	}
	b.cuts[lb.connSeq] = cut
	return lb.connSeq
}

// connect dials the backends in pick order until one answers.
func (lb *LoadBalancer) connect(ctx context.Context) (*backend, net.Conn, error) {
	var errs []error
	for _, b := range lb.order() {
		conn, err := lb.dialer.DialContext(ctx, "tcp", b.addr)
		if err == nil {
			lb.mu.Lock()
			b.active++
			lb.mu.Unlock()
			return b, conn, nil
		}
		errs = append(errs, err)
		if errors.Is(err, syscall.ECONNREFUSED) {
			lb.report(b, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, fmt.Errorf("no backend took the connection: %w", errors.Join(errs...))
}

func (lb *LoadBalancer) release(b *backend, id uint64) {
	lb.mu.Lock()
	b.active--
	delete(b.cuts, id)
	lb.mu.Unlock()
}

// order is every backend in the order to try them for a new connection:
// healthy ones first, fewest open connections first, ties in round-robin
// order.
func (lb *LoadBalancer) order() []*backend {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	n := len(lb.backends)
	out := make([]*backend, 0, n)
	for i := range n {
		out = append(out, lb.backends[(lb.next+i)%n])
	}
	lb.next = (lb.next + 1) % n
	slices.SortStableFunc(out, func(a, b *backend) int {
		if a.healthy != b.healthy {
			if a.healthy {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.active, b.active)
	})
	return out
}

// report records the outcome of a check (or of a refused client
// connection) on b and logs when b changes state.
func (lb *LoadBalancer) report(b *backend, err error) {
	var cuts []func()
	defer func() { // outside the lock
		for _, cut := range cuts {
			cut()
		}
	}()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err == nil {
		b.fails = 0
		if !b.healthy {
			b.healthy = true
			lb.log.Info("backend healthy", "backend", b.addr)
		}
		return
	}
	b.fails++
	if !b.healthy || (b.fails < unhealthyAfter && !errors.Is(err, syscall.ECONNREFUSED)) {
		return
	}
	b.healthy = false
	lb.log.Warn("backend unhealthy", "backend", b.addr, "failures", b.fails, "err", err)
	if !slices.ContainsFunc(lb.backends, func(b *backend) bool { return b.healthy }) {
		lb.log.Warn("no backend is healthy: connections are tried on all of them")
		return // cutting would only move them to another unhealthy one
	}
	if len(b.cuts) > 0 {
		lb.log.Info("cutting the connections to an unhealthy backend", "backend", b.addr, "connections", len(b.cuts))
		for _, cut := range b.cuts {
			cuts = append(cuts, cut)
		}
	}
}

func (lb *LoadBalancer) checkLoop(ctx context.Context) {
	t := time.NewTicker(lb.cfg.HealthInterval)
	defer t.Stop()
	for {
		lb.checkAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAll checks every backend at once, each within one interval (at least
// a second), and records the outcomes.
func (lb *LoadBalancer) checkAll(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, max(lb.cfg.HealthInterval, time.Second))
	defer cancel()
	var wg sync.WaitGroup
	for _, b := range lb.backends {
		wg.Go(func() {
			err := lb.check(cctx, b.addr)
			if ctx.Err() == nil { // stopping is no verdict on the backend
				lb.report(b, err)
			}
		})
	}
	wg.Wait()
}

// check is one health check of the backend at addr: nil when healthy.
func (lb *LoadBalancer) check(ctx context.Context, addr string) error {
	conn, err := lb.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if lb.tls == nil {
		return nil
	}
	// gRPC does the TLS handshake over the connection dialed above, so
	// that a refused connection is told apart from a failed handshake.
	tlsCfg := lb.tls.Clone()
	tlsCfg.ServerName, _, _ = net.SplitHostPort(addr)
	var used atomic.Bool
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			if used.Swap(true) {
				return nil, errors.New("health check connection already used")
			}
			return conn, nil
		}))
	if err != nil {
		return err
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	switch {
	case status.Code(err) == codes.Unimplemented:
		return nil // no health service (yet): the TLS handshake was the check
	case err != nil:
		return fmt.Errorf("gRPC health check: %w", err)
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		return fmt.Errorf("gRPC health check: %s", resp.GetStatus())
	}
	return nil
}

// proxy copies between a and b both ways until both directions are done,
// then closes both.
func proxy(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() { pipe(b, a) })
	wg.Go(func() { pipe(a, b) })
	wg.Wait()
	a.Close()
	b.Close()
}

// pipe copies src to dst. At src's EOF it closes dst's write half: dst's
// peer reads EOF and can still answer. On an error it closes both
// connections, which ends the copy the other way too.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}
