package binpack_test

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) scheduler.Scheduler { return binpack.New() })
}

const mi = int64(1) << 20

func res(milliCPU, memory int64) scheduler.Resources {
	return scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory}
}

func TestScore(t *testing.T) {
	for _, tc := range []struct {
		name             string
		alloc, used, pod scheduler.Resources
		want             int64
	}{
		{"empty node", res(4000, 10000), res(0, 0), res(1000, 2000), (25 + 20) / 2},
		{"used node", res(4000, 10000), res(3000, 5000), res(1000, 2000), (100 + 70) / 2},
		{"integer division per resource", res(3000, 3000), res(0, 0), res(1000, 1000), 33},
		{"pod without requests counts 100m and 200Mi", res(1000, 1024*mi), res(0, 0), res(0, 0), (10 + 19) / 2},
		{"defaults past allocatable count as full", res(50, 100*mi), res(0, 0), res(0, 0), 100},
		{"resource the node has none of is left out", res(1000, 0), res(0, 0), res(500, 0), 50},
		{"node with nothing", res(0, 0), res(0, 0), res(500, mi), 0},
		{"full node", res(1000, 1000), res(500, 500), res(500, 500), 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := binpack.Score(tc.alloc, tc.used, tc.pod); got != tc.want {
				t.Errorf("Score(alloc %+v, used %+v, pod %+v) = %d, want %d", tc.alloc, tc.used, tc.pod, got, tc.want)
			}
		})
	}
}

func node(name string, milliCPU, memory int64) scheduler.Change {
	return scheduler.Change{Type: scheduler.Upsert, Node: &scheduler.Node{
		Name: name, Ready: true,
		Allocatable: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory, Pods: 110},
	}}
}

func boundPod(name, nodeName string, milliCPU, memory int64) scheduler.Change {
	return scheduler.Change{Type: scheduler.Upsert, Pod: &scheduler.Pod{
		Namespace: "default", Name: name, NodeName: nodeName, Requests: res(milliCPU, memory),
	}}
}

func placeOne(t *testing.T, s *binpack.Scheduler, milliCPU, memory int64) string {
	t.Helper()
	ds, err := s.Schedule(context.Background(), []scheduler.Pod{{Namespace: "default", Name: "new", Requests: res(milliCPU, memory)}})
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	if ds[0].NodeName == "" {
		t.Fatalf("pod not placed: %s", ds[0].Reason)
	}
	return ds[0].NodeName
}

func update(t *testing.T, s *binpack.Scheduler, changes ...scheduler.Change) {
	t.Helper()
	if err := s.Update(context.Background(), changes); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func TestPrefersMostAllocatedNode(t *testing.T) {
	s := binpack.New()
	// "roomy" would win under LeastAllocated; bin-packing fills "busy".
	update(t, s, node("roomy", 8000, 16384*mi), node("busy", 2000, 4096*mi), boundPod("resident", "busy", 1500, 3000*mi))
	if got := placeOne(t, s, 250, 256*mi); got != "busy" {
		t.Fatalf("placed on %q, want the most allocated node %q", got, "busy")
	}
}

func TestTieGoesToLowestName(t *testing.T) {
	for _, order := range [][]string{{"node-b", "node-a", "node-c"}, {"node-c", "node-b", "node-a"}} {
		s := binpack.New()
		for _, n := range order {
			update(t, s, node(n, 1000, 1024*mi))
		}
		if got := placeOne(t, s, 100, 0); got != "node-a" {
			t.Fatalf("nodes added as %v: placed on %q, want %q", order, got, "node-a")
		}
	}
}

func TestZeroRequestsScoreButDoNotFit(t *testing.T) {
	s := binpack.New()
	// Both nodes are the same but "b" holds a pod without requests: it
	// scores as holding 100m and 200Mi, so packing prefers it.
	update(t, s, node("a", 1000, 1024*mi), node("b", 1000, 1024*mi), boundPod("best-effort", "b", 0, 0))
	if got := placeOne(t, s, 100, 0); got != "b" {
		t.Fatalf("placed on %q, want %q (which holds a zero-request pod)", got, "b")
	}

	// For fit, the zero-request pod takes nothing: a pod asking for the
	// whole node still fits beside it.
	s = binpack.New()
	update(t, s, node("only", 150, 100*mi), boundPod("best-effort", "only", 0, 0))
	if got := placeOne(t, s, 150, 100*mi); got != "only" {
		t.Fatalf("placed on %q, want %q", got, "only")
	}
}

func TestBatchPacksOneNodeFirst(t *testing.T) {
	s := binpack.New()
	update(t, s, node("a", 1000, 1024*mi), node("b", 1000, 1024*mi))
	var pods []scheduler.Pod
	for _, n := range []string{"p1", "p2", "p3", "p4"} {
		pods = append(pods, scheduler.Pod{Namespace: "default", Name: n, Requests: res(400, 0)})
	}
	ds, err := s.Schedule(context.Background(), pods)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.NodeName)
	}
	want := []string{"a", "a", "b", "b"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("placements %v, want %v", got, want)
		}
	}
}

func TestRescheduleForgetsOldAssumption(t *testing.T) {
	s := binpack.New()
	update(t, s, node("a", 1000, 1024*mi))
	// Asking again for the same pod (the core retrying) must not count it
	// twice.
	for range 3 {
		if got := placeOne(t, s, 600, 0); got != "a" {
			t.Fatalf("placed on %q, want %q", got, "a")
		}
	}
}

func TestUpdateRejectsBadBatchWhole(t *testing.T) {
	s := binpack.New()
	err := s.Update(context.Background(), []scheduler.Change{
		node("a", 1000, 1024*mi),
		{Type: scheduler.Upsert, Node: &scheduler.Node{}},
	})
	if err == nil {
		t.Fatal("Update with a nameless node succeeded")
	}
	ds, err := s.Schedule(context.Background(), []scheduler.Pod{{Name: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].NodeName != "" {
		t.Fatalf("the valid half of a rejected batch was applied: pod placed on %q", ds[0].NodeName)
	}
}

func TestConfigureRejectsUnknownSettings(t *testing.T) {
	s := binpack.New()
	if err := s.Configure(context.Background(), base.Config{Settings: map[string]string{"strategy": "spread"}}); err == nil {
		t.Fatal("Configure accepted an unknown setting")
	}
}
