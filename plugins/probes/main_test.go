package main

import (
	"context"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/probes/conformance"
	"github.com/skiffhq/skiff/sdk/probes/fake"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// launch starts this test binary as the plugin and returns the host's
// client to it.
func launch(t *testing.T, host probes.Host) probes.Prober {
	t.Helper()
	return plugintest.Launch(t, base.KindProbes, probes.ClientVersionsWithHost(host)).(probes.Prober)
}

func TestBinaryInfo(t *testing.T) {
	info, err := launch(t, nil).Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindProbes || info.APIVersion != probes.APIVersion {
		t.Fatalf("Info = %+v, want kind %q at API version %d", info, base.KindProbes, probes.APIVersion)
	}
}

// TestBinaryExecProbe runs an exec probe in the plugin process; the
// plugin reaches the test's Host over the broker, with AutoMTLS.
func TestBinaryExecProbe(t *testing.T) {
	calls := make(chan string, 100)
	p := launch(t, &fake.Host{ExecFunc: func(_ context.Context, id string, _ []string, _ time.Duration) (int, []byte, error) {
		calls <- id
		return 0, nil, nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := p.Results(ctx)
	if err != nil {
		t.Fatalf("Results: %v", err)
	}
	err = p.AddContainer(ctx, probes.Container{ContainerID: "c1", Liveness: &probes.Probe{
		Exec: []string{"true"}, Period: 50 * time.Millisecond, Timeout: time.Second,
	}})
	if err != nil {
		t.Fatalf("AddContainer: %v", err)
	}
	select {
	case r := <-ch:
		if r.ContainerID != "c1" || r.Probe != probes.Liveness || !r.Success {
			t.Fatalf("result %+v, want c1 liveness success", r)
		}
	case <-ctx.Done():
		t.Fatal("no result")
	}
	if id := <-calls; id != "c1" {
		t.Fatalf("Host.Exec for %q, want c1", id)
	}
}

// TestBinaryConformance runs the suite against the plugin process.
func TestBinaryConformance(t *testing.T) {
	plugintest.SkipIfShort(t, "starts one plugin process per case")
	conformance.Run(t, func(t *testing.T) probes.Prober { return launch(t, nil) })
}
