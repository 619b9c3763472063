package spread_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/examples/scheduler-spread/spread"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/conformance"
)

// The conformance suite drives the plugin through the real gRPC path and
// checks the scheduler contract (filters, reasons, assumptions, updates);
// it accepts any node when several fit, so it holds for both strategies.
func TestConformanceLeastAllocated(t *testing.T) {
	conformance.Run(t, func(*testing.T) scheduler.Scheduler { return spread.New() })
}

func TestConformanceFewestPods(t *testing.T) {
	conformance.Run(t, func(*testing.T) scheduler.Scheduler { return spread.New(spread.WithScore(spread.FewestPods)) })
}

// connect serves s over go-plugin's gRPC test connection, as the suite does,
// and returns the core's view of it.
func connect(t *testing.T, s scheduler.Scheduler) scheduler.Scheduler {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindScheduler): &scheduler.GRPCPlugin{Impl: s},
	})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(string(base.KindScheduler))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(scheduler.Scheduler)
}

func configured(t *testing.T, settings map[string]string) scheduler.Scheduler {
	t.Helper()
	s := connect(t, spread.New())
	if err := s.Configure(context.Background(), base.Config{DataDir: t.TempDir(), Settings: settings}); err != nil {
		t.Fatalf("Configure(%v): %v", settings, err)
	}
	return s
}

func node(name string, milliCPU, memory, pods int64) scheduler.Change {
	return scheduler.Change{Type: scheduler.Upsert, Node: &scheduler.Node{Name: name, Ready: true,
		Allocatable: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory, Pods: pods}}}
}

func pod(name string, milliCPU, memory int64) scheduler.Pod {
	return scheduler.Pod{Namespace: "default", Name: name, UID: "uid-" + name,
		Requests: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory}}
}

func placements(t *testing.T, s scheduler.Scheduler, pods ...scheduler.Pod) []string {
	t.Helper()
	ds, err := s.Schedule(context.Background(), pods)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.NodeName
		if d.NodeName == "" {
			out[i] = "(" + d.Reason + ")"
		}
	}
	return out
}

const gi = int64(1) << 30

func TestSpreadsAcrossEqualNodes(t *testing.T) {
	for _, score := range []string{spread.LeastAllocated, spread.FewestPods} {
		t.Run(score, func(t *testing.T) {
			s := configured(t, map[string]string{"score": score})
			if err := s.Update(context.Background(), []scheduler.Change{node("a", 4000, 8*gi, 110), node("b", 4000, 8*gi, 110), node("c", 4000, 8*gi, 110)}); err != nil {
				t.Fatal(err)
			}
			got := placements(t, s, pod("p1", 500, gi), pod("p2", 500, gi), pod("p3", 500, gi), pod("p4", 500, gi))
			// A bin-packer would put all four on "a".
			if want := "a b c a"; strings.Join(got, " ") != want {
				t.Errorf("placements = %v, want %s: one pod per node before any node gets a second", got, want)
			}
		})
	}
}

func TestLeastAllocatedPrefersTheEmptiestNode(t *testing.T) {
	s := configured(t, nil)
	ctx := context.Background()
	err := s.Update(ctx, []scheduler.Change{
		node("small", 1000, 2*gi, 110), node("big", 8000, 16*gi, 110),
		{Type: scheduler.Upsert, Pod: &scheduler.Pod{Namespace: "default", Name: "resident", NodeName: "big",
			Requests: scheduler.Resources{MilliCPU: 6000, MemoryBytes: 12 * gi}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// big has 2 CPU / 4Gi left of 8/16 (25% free), small 1/2 of 1/2 (100%
	// free): small wins although it has less room in absolute terms.
	if got := placements(t, s, pod("web", 200, 256<<20)); got[0] != "small" {
		t.Errorf("web went to %s, want small (least allocated)", got[0])
	}
}

func TestFewestPodsIgnoresSize(t *testing.T) {
	s := configured(t, map[string]string{"score": spread.FewestPods})
	ctx := context.Background()
	if err := s.Update(ctx, []scheduler.Change{node("small", 1000, 2*gi, 10), node("big", 8000, 16*gi, 10),
		{Type: scheduler.Upsert, Pod: &scheduler.Pod{Namespace: "default", Name: "resident", NodeName: "small"}}}); err != nil {
		t.Fatal(err)
	}
	if got := placements(t, s, pod("web", 100, 0)); got[0] != "big" {
		t.Errorf("web went to %s, want big (fewer pods)", got[0])
	}
}

func TestSettingsAreChecked(t *testing.T) {
	s := connect(t, spread.New())
	ctx := context.Background()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Settings) != 1 || info.Settings[0].Name != "score" || info.Settings[0].Default != spread.LeastAllocated {
		t.Errorf("Info().Settings = %+v, want the score setting with its default", info.Settings)
	}
	for _, tc := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"score": "most-allocated"}, `setting "score": "most-allocated" is not least-allocated or fewest-pods`},
		{map[string]string{"colour": "blue"}, `setting "colour": unknown`},
	} {
		err := s.Configure(ctx, base.Config{Settings: tc.settings})
		if !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Configure(%v) = %v, want base.ErrInvalid saying %q", tc.settings, err, tc.want)
		}
	}
}

func TestLeastAllocatedScore(t *testing.T) {
	alloc := scheduler.Resources{MilliCPU: 1000, MemoryBytes: 1000 << 20}
	for _, tc := range []struct {
		used, req scheduler.Resources
		want      int64
	}{
		{scheduler.Resources{}, scheduler.Resources{MilliCPU: 500, MemoryBytes: 500 << 20}, 50},
		{scheduler.Resources{MilliCPU: 500, MemoryBytes: 0}, scheduler.Resources{MilliCPU: 500, MemoryBytes: 1000 << 20}, 0},
		// A pod requesting nothing counts as 100m and 200Mi: 90 and 80.
		{scheduler.Resources{}, scheduler.Resources{}, 85},
		// Over-committed by the defaults: no room counts as 0, not less.
		{scheduler.Resources{MilliCPU: 1000, MemoryBytes: 1000 << 20}, scheduler.Resources{}, 0},
	} {
		if got := spread.LeastAllocatedScore(alloc, tc.used, tc.req); got != tc.want {
			t.Errorf("LeastAllocatedScore(used %+v, req %+v) = %d, want %d", tc.used, tc.req, got, tc.want)
		}
	}
}
