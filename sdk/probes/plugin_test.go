package probes_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/probes/fake"
)

func connect(t *testing.T, p *probes.GRPCPlugin) probes.Prober {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{string(base.KindProbes): p})
	// Close also stops the server, through go-plugin's controller
	// service; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(base.KindProbes))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(probes.Prober)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestAddContainerRoundTrip(t *testing.T) {
	started := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	want := probes.Container{
		PodUID: "pod-1", ContainerName: "web", ContainerID: "c1", PodIP: "10.0.0.7", StartedAt: started,
		Startup: &probes.Probe{Exec: []string{"cat", "/tmp/started"}, Period: time.Second, Timeout: time.Second,
			SuccessThreshold: 1, FailureThreshold: 30},
		Readiness: &probes.Probe{
			HTTPGet: &probes.HTTPGet{Scheme: "HTTPS", Host: "h", Port: 8443, Path: "/ready",
				Headers: map[string]string{"X-Probe": "1"}},
			InitialDelay: 5 * time.Second, Period: 10 * time.Second, Timeout: 2 * time.Second,
			SuccessThreshold: 2, FailureThreshold: 3,
		},
		Liveness: &probes.Probe{TCPSocket: &probes.TCPSocket{Host: "h2", Port: 80}, GRPC: &probes.GRPC{Port: 9090, Service: "svc"}},
	}
	var got probes.Container
	p := connect(t, &probes.GRPCPlugin{Impl: &fake.Prober{AddContainerFunc: func(_ context.Context, c probes.Container) error {
		got = c
		return nil
	}}})
	if err := p.AddContainer(ctx(t), want); err != nil {
		t.Fatalf("AddContainer: %v", err)
	}
	if !got.StartedAt.Equal(want.StartedAt) {
		t.Errorf("StartedAt = %v, want %v", got.StartedAt, want.StartedAt)
	}
	got.StartedAt = want.StartedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plugin received\n%+v\nwant\n%+v", got, want)
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	p := connect(t, &probes.GRPCPlugin{Impl: &fake.Prober{
		AddContainerFunc: func(_ context.Context, c probes.Container) error {
			return fmt.Errorf("container %q: readiness probe: no action: %w", c.ContainerID, probes.ErrInvalidProbe)
		},
	}})
	err := p.AddContainer(ctx(t), probes.Container{ContainerID: "c1"})
	if !errors.Is(err, probes.ErrInvalidProbe) {
		t.Fatalf("AddContainer error %v does not wrap probes.ErrInvalidProbe", err)
	}
	if want := `container "c1": readiness probe: no action: invalid probe`; err.Error() != want {
		t.Errorf("error message %q, want %q", err, want)
	}
	if err := p.RemoveContainer(ctx(t), "c1"); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("RemoveContainer on a fake without RemoveContainerFunc: %v, want base.ErrUnsupported", err)
	}
}

func TestResultsStream(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sent := []probes.Result{
		{ContainerID: "c1", Probe: probes.Readiness, Success: true, At: at},
		{ContainerID: "c1", Probe: probes.Liveness, Success: false, Message: "HTTP probe failed with statuscode: 500", At: at},
		{ContainerID: "c2", Probe: probes.Startup, Success: true, At: at},
	}
	pluginDone := make(chan struct{})
	p := connect(t, &probes.GRPCPlugin{Impl: &fake.Prober{ResultsFunc: func(ctx context.Context) (<-chan probes.Result, error) {
		ch := make(chan probes.Result)
		go func() {
			defer close(pluginDone)
			defer close(ch)
			for _, r := range sent {
				ch <- r
			}
			<-ctx.Done() // the stream stays open until the caller leaves
		}()
		return ch, nil
	}}})
	c, cancel := context.WithCancel(ctx(t))
	ch, err := p.Results(c)
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	for i, want := range sent {
		select {
		case got := <-ch:
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("result %d = %+v, want %+v", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("result %d never arrived", i)
		}
	}
	cancel()
	select {
	case <-pluginDone:
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the caller's context did not end the plugin's Results context")
	}
	for range ch { // the channel must close
	}
}

func TestResultsSubscribeError(t *testing.T) {
	p := connect(t, &probes.GRPCPlugin{Impl: &fake.Prober{ResultsFunc: func(context.Context) (<-chan probes.Result, error) {
		return nil, fmt.Errorf("results: %w", base.ErrNotConfigured)
	}}})
	ch, err := p.Results(ctx(t))
	if !errors.Is(err, base.ErrNotConfigured) {
		t.Fatalf("Results = %v, %v; want an error wrapping base.ErrNotConfigured", ch, err)
	}
}

// TestHostOverBroker: the core's Host reaches the plugin through go-plugin's
// broker, once, before the first AddContainer; the plugin's Exec calls
// reach the core's Host, errors included.
func TestHostOverBroker(t *testing.T) {
	host := &fake.Host{ExecFunc: func(_ context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
		switch {
		case id == "missing":
			return 0, nil, fmt.Errorf("container %q: %w", id, base.ErrNotFound)
		case !reflect.DeepEqual(cmd, []string{"cat", "/ready"}) || timeout != 3*time.Second:
			return 0, nil, fmt.Errorf("host got cmd %q timeout %v", cmd, timeout)
		}
		return 2, []byte("not ready\n"), nil
	}}
	hosts := make(chan probes.Host, 10)
	impl := &fake.Prober{
		SetHostFunc:      func(h probes.Host) { hosts <- h },
		AddContainerFunc: func(context.Context, probes.Container) error { return nil },
	}
	p := connect(t, &probes.GRPCPlugin{Impl: impl, Host: host})

	select {
	case <-hosts:
		t.Fatal("the plugin got a Host before any AddContainer")
	default:
	}
	for _, id := range []string{"c1", "c2"} {
		if err := p.AddContainer(ctx(t), probes.Container{ContainerID: id}); err != nil {
			t.Fatalf("AddContainer(%s): %v", id, err)
		}
	}
	if len(hosts) != 1 {
		t.Fatalf("the plugin got the Host %d times, want once", len(hosts))
	}
	h := <-hosts

	code, out, err := h.Exec(ctx(t), "c1", []string{"cat", "/ready"}, 3*time.Second)
	if err != nil || code != 2 || string(out) != "not ready\n" {
		t.Fatalf("Exec = %d, %q, %v; want 2, %q, nil", code, out, err, "not ready\n")
	}
	_, _, err = h.Exec(ctx(t), "missing", nil, time.Second)
	if !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("Exec on a missing container: %v, want base.ErrNotFound", err)
	}
}

func TestNoHostNoSetHost(t *testing.T) {
	var calls atomic.Int32
	impl := &fake.Prober{
		SetHostFunc:      func(probes.Host) { calls.Add(1) },
		AddContainerFunc: func(context.Context, probes.Container) error { return nil },
	}
	p := connect(t, &probes.GRPCPlugin{Impl: impl})
	if err := p.AddContainer(ctx(t), probes.Container{ContainerID: "c1"}); err != nil {
		t.Fatalf("AddContainer: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("SetHost called %d times without a Host", n)
	}
}

// plainProber is a Prober that does not implement HostSetter.
type plainProber struct{ fake.Prober }

func (plainProber) SetHost() {} // not HostSetter's signature: hides fake.Prober.SetHost

func TestHostIgnoredByPluginWithoutHostSetter(t *testing.T) {
	impl := &plainProber{fake.Prober{AddContainerFunc: func(context.Context, probes.Container) error { return nil }}}
	if _, ok := any(impl).(probes.HostSetter); ok {
		t.Fatal("plainProber implements HostSetter")
	}
	p := connect(t, &probes.GRPCPlugin{Impl: impl, Host: &fake.Host{}})
	if err := p.AddContainer(ctx(t), probes.Container{ContainerID: "c1"}); err != nil {
		t.Fatalf("AddContainer: %v", err)
	}
}

func TestInfo(t *testing.T) {
	p := connect(t, &probes.GRPCPlugin{Impl: &fake.Prober{InfoFunc: func(context.Context) (base.Info, error) {
		return base.Info{Name: "test"}, nil
	}}})
	info, err := p.Info(ctx(t))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindProbes || info.APIVersion != probes.APIVersion {
		t.Fatalf("Info = %+v, want kind %q and API version %d filled in", info, base.KindProbes, probes.APIVersion)
	}
}

func TestClientVersions(t *testing.T) {
	h := &fake.Host{}
	p, ok := probes.ClientVersionsWithHost(h)[probes.APIVersion].(*probes.GRPCPlugin)
	if !ok || p.Host != h || p.Impl != nil {
		t.Fatalf("ClientVersionsWithHost()[%d] = %#v, want a GRPCPlugin with the Host", probes.APIVersion, p)
	}
	if p := probes.ClientVersions()[probes.APIVersion].(*probes.GRPCPlugin); p.Host != nil {
		t.Fatalf("ClientVersions() has a Host")
	}
}
