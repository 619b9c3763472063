// Package conformance is the test suite every probes plugin runs:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) probes.Prober { return myplugin.New() })
//	}
//
// It drives the plugin through the real gRPC path (go-plugin's
// TestPluginGRPCConn), with a Host served back over go-plugin's broker, the
// way the core does. Probes target servers the suite opens on 127.0.0.1,
// with periods of tens of milliseconds.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/probes/fake"
)

const (
	period = 50 * time.Millisecond
	// wait bounds how long a result may take to arrive.
	wait = 5 * time.Second
	// quiet is how long the suite listens to check nothing arrives.
	quiet = 10 * period
)

// Run runs the suite. factory returns a new plugin, not yet configured, for
// each test; the suite configures it (with a DataDir under t.TempDir()).
func Run(t *testing.T, factory func(t *testing.T) probes.Prober) {
	t.Run("Info", func(t *testing.T) {
		impl := factory(t)
		testInfo(t, connect(t, impl, nil))
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, &env{impl: factory(t)})
		})
	}
}

var cases = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"InvalidProbes", testInvalidProbes},
	{"RemoveUnknownContainer", testRemoveUnknown},
	{"TCPSocketTransitions", testTCPTransitions},
	{"FirstResultOfFailingProbe", testFirstResultOfFailingProbe},
	{"HTTPGetTransitions", testHTTPTransitions},
	{"GRPCTransitions", testGRPCTransitions},
	{"ExecThroughHost", testExecThroughHost},
	{"InitialDelay", testInitialDelay},
	{"ReplaceResendsFirstResult", testReplace},
	{"RemoveStopsProbes", testRemoveStops},
}

// env is one test's plugin: connect it with start, after picking a Host.
type env struct {
	impl probes.Prober
	p    probes.Prober
}

func (e *env) start(t *testing.T, host probes.Host) probes.Prober {
	t.Helper()
	e.p = connect(t, e.impl, host)
	if err := e.p.Configure(ctx(t), base.Config{NodeName: "conformance", DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return e.p
}

func connect(t *testing.T, impl probes.Prober, host probes.Host) probes.Prober {
	t.Helper()
	kind := string(base.KindProbes)
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		kind: &probes.GRPCPlugin{Impl: impl, Host: host},
	})
	// Close also stops the server, through go-plugin's controller
	// service; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %q: %v", kind, err)
	}
	p, ok := raw.(probes.Prober)
	if !ok {
		t.Fatalf("dispense %q: got %T, which is not a probes.Prober", kind, raw)
	}
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// subscribe opens Results for the rest of the test.
func subscribe(t *testing.T, p probes.Prober) <-chan probes.Result {
	t.Helper()
	ch, err := p.Results(ctx(t))
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	return ch
}

func fastProbe() *probes.Probe {
	return &probes.Probe{Period: period, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1}
}

func tcpProbe(port int) *probes.Probe {
	p := fastProbe()
	p.TCPSocket = &probes.TCPSocket{Port: port} // host: the pod IP
	return p
}

func container(id string) probes.Container {
	return probes.Container{
		PodUID: "pod-" + id, ContainerName: "app", ContainerID: id,
		PodIP: "127.0.0.1", StartedAt: time.Now(),
	}
}

func add(t *testing.T, p probes.Prober, c probes.Container) {
	t.Helper()
	if err := p.AddContainer(ctx(t), c); err != nil {
		t.Fatalf("AddContainer(%q): %v", c.ContainerID, err)
	}
}

// next returns the next result for the container's probe of that kind,
// skipping others.
func next(t *testing.T, ch <-chan probes.Result, id string, kind probes.Kind) probes.Result {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("Results channel closed while waiting for the %s result of %q", kind, id)
			}
			if r.ContainerID != id || r.Probe != kind {
				continue
			}
			if r.At.IsZero() {
				t.Errorf("result %+v has no time", r)
			}
			return r
		case <-timeout:
			t.Fatalf("no %s result for container %q within %v", kind, id, wait)
		}
	}
}

func expect(t *testing.T, ch <-chan probes.Result, id string, kind probes.Kind, success bool) probes.Result {
	t.Helper()
	r := next(t, ch, id, kind)
	if r.Success != success {
		t.Fatalf("%s result of %q: Success = %v (message %q), want %v", kind, id, r.Success, r.Message, success)
	}
	if !success && r.Message == "" {
		t.Errorf("%s failure of %q has no message", kind, id)
	}
	return r
}

// expectNothing fails if a result for the container arrives within quiet.
func expectNothing(t *testing.T, ch <-chan probes.Result, id string, why string) {
	t.Helper()
	timeout := time.After(quiet)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("Results channel closed")
			}
			if r.ContainerID == id {
				t.Fatalf("got result %+v, want none: %s", r, why)
			}
		case <-timeout:
			return
		}
	}
}

func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return l, l.Addr().(*net.TCPAddr).Port
}

// closedPort returns a port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	l, port := listen(t)
	_ = l.Close()
	return port
}

func testInfo(t *testing.T, p probes.Prober) {
	info, err := p.Info(ctx(t))
	if err != nil {
		t.Fatalf("Info (before Configure): %v", err)
	}
	if info.Kind != base.KindProbes {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, base.KindProbes)
	}
	if info.Name == "" {
		t.Errorf("Info().Name is empty")
	}
	if info.APIVersion != probes.APIVersion {
		t.Errorf("Info().APIVersion = %d, want %d", info.APIVersion, probes.APIVersion)
	}
}

func testInvalidProbes(t *testing.T, e *env) {
	p := e.start(t, nil)
	noAction := fastProbe()
	twoActions := tcpProbe(80)
	twoActions.HTTPGet = &probes.HTTPGet{Port: 80, Path: "/"}
	for _, tc := range []struct {
		name string
		set  func(c *probes.Container)
	}{
		{"startup without action", func(c *probes.Container) { c.Startup = noAction }},
		{"readiness without action", func(c *probes.Container) { c.Readiness = noAction }},
		{"liveness without action", func(c *probes.Container) { c.Liveness = noAction }},
		{"readiness with two actions", func(c *probes.Container) { c.Readiness = twoActions }},
		{"valid liveness, readiness without action", func(c *probes.Container) {
			c.Liveness = tcpProbe(80)
			c.Readiness = noAction
		}},
	} {
		c := container("invalid")
		tc.set(&c)
		err := p.AddContainer(ctx(t), c)
		if !errors.Is(err, probes.ErrInvalidProbe) {
			t.Errorf("%s: AddContainer error = %v, want one wrapping probes.ErrInvalidProbe", tc.name, err)
		}
	}
}

func testRemoveUnknown(t *testing.T, e *env) {
	p := e.start(t, nil)
	if err := p.RemoveContainer(ctx(t), "never-added"); err != nil {
		t.Fatalf("RemoveContainer(unknown) = %v, want nil", err)
	}
	_, port := listen(t)
	c := container("twice")
	c.Readiness = tcpProbe(port)
	add(t, p, c)
	for i := range 2 {
		if err := p.RemoveContainer(ctx(t), "twice"); err != nil {
			t.Fatalf("RemoveContainer #%d = %v, want nil", i+1, err)
		}
	}
}

func testTCPTransitions(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	l, port := listen(t)
	c := container("tcp")
	c.Readiness = tcpProbe(port)
	add(t, p, c)
	expect(t, ch, "tcp", probes.Readiness, true)
	_ = l.Close()
	expect(t, ch, "tcp", probes.Readiness, false)
}

func testFirstResultOfFailingProbe(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	c := container("down")
	c.Readiness = tcpProbe(closedPort(t))
	c.Readiness.FailureThreshold = 3
	add(t, p, c)
	expect(t, ch, "down", probes.Readiness, false)
}

func testHTTPTransitions(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "conformance" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	c := container("http")
	c.Liveness = fastProbe()
	c.Liveness.HTTPGet = &probes.HTTPGet{Scheme: "HTTP", Port: port, Path: "/healthz",
		Headers: map[string]string{"X-Probe": "conformance"}}
	add(t, p, c)
	expect(t, ch, "http", probes.Liveness, true)
	status.Store(http.StatusServiceUnavailable)
	r := expect(t, ch, "http", probes.Liveness, false)
	if want := "HTTP probe failed with statuscode: 503"; r.Message != want {
		t.Errorf("failure message %q, want kubelet's %q", r.Message, want)
	}
	status.Store(http.StatusFound) // 200-399 is success
	expect(t, ch, "http", probes.Liveness, true)
}

func testGRPCTransitions(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	hs := health.NewServer()
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, hs)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)

	c := container("grpc")
	c.Readiness = fastProbe()
	c.Readiness.GRPC = &probes.GRPC{Port: l.Addr().(*net.TCPAddr).Port, Service: "app"}
	add(t, p, c)
	expect(t, ch, "grpc", probes.Readiness, true)
	hs.SetServingStatus("app", healthpb.HealthCheckResponse_NOT_SERVING)
	expect(t, ch, "grpc", probes.Readiness, false)
}

func testExecThroughHost(t *testing.T, e *env) {
	if _, ok := e.impl.(probes.HostSetter); !ok {
		t.Skip("the plugin does not implement probes.HostSetter: it runs no exec probes")
	}
	var exit atomic.Int32
	var bad atomic.Value
	host := &fake.Host{ExecFunc: func(_ context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
		if id != "exec" || fmt.Sprint(cmd) != "[cat /tmp/healthy]" || timeout <= 0 {
			bad.Store(fmt.Sprintf("Host.Exec(%q, %q, %v)", id, cmd, timeout))
		}
		return int(exit.Load()), []byte("cat: /tmp/healthy: No such file or directory\n"), nil
	}}
	p := e.start(t, host)
	ch := subscribe(t, p)
	c := container("exec")
	c.Liveness = fastProbe()
	c.Liveness.Exec = []string{"cat", "/tmp/healthy"}
	add(t, p, c)
	expect(t, ch, "exec", probes.Liveness, true)
	exit.Store(1)
	expect(t, ch, "exec", probes.Liveness, false)
	if b := bad.Load(); b != nil {
		t.Fatalf("the plugin called %s, want (\"exec\", [cat /tmp/healthy], the probe's timeout)", b)
	}
}

func testInitialDelay(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	_, port := listen(t)
	c := container("delayed")
	c.Readiness = tcpProbe(port)
	c.Readiness.InitialDelay = time.Hour
	add(t, p, c)
	expectNothing(t, ch, "delayed", "the probe's initial delay has not passed")

	// The delay runs from StartedAt, not from AddContainer.
	c = container("started-long-ago")
	c.StartedAt = time.Now().Add(-2 * time.Hour)
	c.Readiness = tcpProbe(port)
	c.Readiness.InitialDelay = time.Hour
	add(t, p, c)
	expect(t, ch, "started-long-ago", probes.Readiness, true)
}

func testReplace(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	_, port := listen(t)
	c := container("replaced")
	c.Readiness = tcpProbe(port)
	add(t, p, c)
	expect(t, ch, "replaced", probes.Readiness, true)
	add(t, p, c)
	expect(t, ch, "replaced", probes.Readiness, true)
}

func testRemoveStops(t *testing.T, e *env) {
	p := e.start(t, nil)
	ch := subscribe(t, p)
	l, port := listen(t)
	c := container("removed")
	c.Liveness = tcpProbe(port)
	add(t, p, c)
	expect(t, ch, "removed", probes.Liveness, true)
	if err := p.RemoveContainer(ctx(t), "removed"); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	_ = l.Close() // a probe still running would now report a failure
	expectNothing(t, ch, "removed", "the container was removed")
}
