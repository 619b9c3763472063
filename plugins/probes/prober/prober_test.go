package prober

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/probes/conformance"
	"github.com/skiffhq/skiff/sdk/probes/fake"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) probes.Prober { return New() })
}

func TestThreshold(t *testing.T) {
	ok := outcome{verdict: success}
	bad := outcome{verdict: failure, message: "connection refused"}
	type step struct {
		o      outcome
		report bool
		state  bool
	}
	for _, tc := range []struct {
		name  string
		kind  probes.Kind
		probe probes.Probe
		steps []step
	}{
		{"readiness starts failed and needs its successes", probes.Readiness,
			probes.Probe{SuccessThreshold: 2, FailureThreshold: 3},
			[]step{{ok, true, false}, {ok, true, true}, {ok, false, true}, {bad, false, true}, {bad, false, true}, {bad, true, false}}},
		{"liveness starts succeeded", probes.Liveness,
			probes.Probe{SuccessThreshold: 1, FailureThreshold: 2},
			[]step{{bad, true, true}, {bad, true, false}, {ok, true, true}}},
		{"a broken run starts over", probes.Liveness,
			probes.Probe{SuccessThreshold: 1, FailureThreshold: 2},
			[]step{{ok, true, true}, {bad, false, true}, {ok, false, true}, {bad, false, true}, {bad, true, false}}},
		{"startup starts failed", probes.Startup,
			probes.Probe{SuccessThreshold: 1, FailureThreshold: 30},
			[]step{{bad, true, false}, {bad, false, false}, {ok, true, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newThreshold(tc.kind, tc.probe)
			for i, s := range tc.steps {
				report := th.observe(s.o)
				if report != s.report || th.state != s.state {
					t.Fatalf("step %d (%v): report %v, state %v; want %v, %v", i, s.o.verdict, report, th.state, s.report, s.state)
				}
				if !th.state && th.message == "" {
					t.Fatalf("step %d: failed state without a message", i)
				}
			}
		})
	}
}

func TestValidation(t *testing.T) {
	tcp := func() *probes.Probe { return &probes.Probe{TCPSocket: &probes.TCPSocket{Port: 80}} }
	for _, tc := range []struct {
		name string
		c    func() probes.Container
		want error
	}{
		{"no container ID", func() probes.Container { return probes.Container{} }, base.ErrInvalid},
		{"port out of range", func() probes.Container {
			p := tcp()
			p.TCPSocket.Port = 70000
			return probes.Container{ContainerID: "c", PodIP: "10.0.0.1", Readiness: p}
		}, probes.ErrInvalidProbe},
		{"no host and no pod IP", func() probes.Container {
			return probes.Container{ContainerID: "c", Readiness: tcp()}
		}, probes.ErrInvalidProbe},
		{"bad scheme", func() probes.Container {
			return probes.Container{ContainerID: "c", PodIP: "10.0.0.1",
				Liveness: &probes.Probe{HTTPGet: &probes.HTTPGet{Scheme: "FTP", Port: 21}}}
		}, probes.ErrInvalidProbe},
		{"negative period", func() probes.Container {
			p := tcp()
			p.Period = -time.Second
			return probes.Container{ContainerID: "c", PodIP: "10.0.0.1", Readiness: p}
		}, probes.ErrInvalidProbe},
		{"exec without a host", func() probes.Container {
			return probes.Container{ContainerID: "c", Liveness: &probes.Probe{Exec: []string{"true"}}}
		}, base.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New().AddContainer(context.Background(), tc.c())
			if !errors.Is(err, tc.want) {
				t.Fatalf("AddContainer error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	p, err := checkProbe(probes.Probe{TCPSocket: &probes.TCPSocket{Port: 80}}, "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Period != 10*time.Second || p.Timeout != time.Second || p.SuccessThreshold != 1 || p.FailureThreshold != 3 {
		t.Fatalf("defaults: %+v, want Kubernetes' (10s, 1s, 1, 3)", p)
	}
}

func listen(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	return l.Addr().(*net.TCPAddr).Port
}

func next(t *testing.T, ch <-chan probes.Result) probes.Result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no result within 5s")
	}
	return probes.Result{}
}

// TestStartupGatesOtherProbes: readiness and liveness only run once the
// startup probe succeeded, and the startup probe then stops.
func TestStartupGatesOtherProbes(t *testing.T) {
	p := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := p.Results(ctx)
	execs := make(chan struct{}, 100)
	exit := make(chan int, 1)
	exit <- 1
	p.SetHost(&fake.Host{ExecFunc: func(context.Context, string, []string, time.Duration) (int, []byte, error) {
		execs <- struct{}{}
		code := <-exit
		exit <- code
		return code, nil, nil
	}})
	port := listen(t)
	fast := func() *probes.Probe {
		return &probes.Probe{Period: 20 * time.Millisecond, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 1}
	}
	c := probes.Container{ContainerID: "c", PodIP: "127.0.0.1", Startup: fast(), Readiness: fast(), Liveness: fast()}
	c.Startup.Exec = []string{"test", "-f", "/started"}
	c.Readiness.TCPSocket = &probes.TCPSocket{Port: port}
	c.Liveness.TCPSocket = &probes.TCPSocket{Port: port}
	if err := p.AddContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r := next(t, ch); r.Probe != probes.Startup || r.Success {
		t.Fatalf("first result %+v, want startup failed", r)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-ch:
		t.Fatalf("result %+v before the startup probe succeeded", r)
	default:
	}
	<-exit
	exit <- 0
	if r := next(t, ch); r.Probe != probes.Startup || !r.Success {
		t.Fatalf("result %+v, want startup succeeded", r)
	}
	got := map[probes.Kind]bool{}
	for range 2 {
		r := next(t, ch)
		got[r.Probe] = r.Success
	}
	if !got[probes.Readiness] || !got[probes.Liveness] {
		t.Fatalf("after startup: %v, want readiness and liveness succeeded", got)
	}
	for len(execs) > 0 {
		<-execs
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(execs); n != 0 {
		t.Fatalf("the startup probe ran %d more times after it succeeded", n)
	}
}

func TestNewSubscriberGetsCurrentStates(t *testing.T) {
	p := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, _ := p.Results(ctx)
	c := probes.Container{ContainerID: "c", PodIP: "127.0.0.1", Readiness: &probes.Probe{
		TCPSocket: &probes.TCPSocket{Port: listen(t)}, Period: 20 * time.Millisecond, Timeout: time.Second,
	}}
	if err := p.AddContainer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r := next(t, first); !r.Success {
		t.Fatalf("result %+v, want success", r)
	}
	late, _ := p.Results(ctx)
	if r := next(t, late); r.ContainerID != "c" || r.Probe != probes.Readiness || !r.Success {
		t.Fatalf("late subscriber got %+v, want the current readiness state", r)
	}
}

func TestResultsChannelClosesWithContext(t *testing.T) {
	p := New()
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := p.Results(ctx)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("got a result, want the channel closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Results channel still open after its context ended")
	}
}
