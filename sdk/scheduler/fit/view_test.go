package fit_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

func node(name string, milliCPU, memory, pods int64) *scheduler.Node {
	return &scheduler.Node{Name: name, Ready: true,
		Allocatable: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory, Pods: pods}}
}

func pod(name string, milliCPU, memory int64) scheduler.Pod {
	return scheduler.Pod{Namespace: "default", Name: name,
		Requests: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory}}
}

func upsertNode(n *scheduler.Node) scheduler.Change {
	return scheduler.Change{Type: scheduler.Upsert, Node: n}
}

func deleteNode(name string) scheduler.Change {
	return scheduler.Change{Type: scheduler.Delete, Node: &scheduler.Node{Name: name}}
}

func bind(p scheduler.Pod, nodeName string) scheduler.Change {
	p.NodeName = nodeName
	return scheduler.Change{Type: scheduler.Upsert, Pod: &p}
}

func deletePod(name string) scheduler.Change {
	return scheduler.Change{Type: scheduler.Delete, Pod: &scheduler.Pod{Namespace: "default", Name: name}}
}

func apply(t *testing.T, v *fit.View, changes ...scheduler.Change) {
	t.Helper()
	if err := v.Apply(changes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// counted is a Usage of pods with these requests.
func counted(requests ...scheduler.Resources) fit.Usage {
	var u fit.Usage
	for _, r := range requests {
		nz := fit.NonZero(r)
		u.Requested.MilliCPU += r.MilliCPU
		u.Requested.MemoryBytes += r.MemoryBytes
		u.NonZero.MilliCPU += nz.MilliCPU
		u.NonZero.MemoryBytes += nz.MemoryBytes
		u.Pods++
	}
	return u
}

func res(milliCPU, memory int64) scheduler.Resources {
	return scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory}
}

func wantUsage(t *testing.T, v *fit.View, nodeName string, want fit.Usage) {
	t.Helper()
	if got := v.Usage(nodeName); got != want {
		t.Errorf("Usage(%q) = %+v, want %+v", nodeName, got, want)
	}
}

func TestBookkeeping(t *testing.T) {
	type step struct {
		do   func(v *fit.View)
		want map[string]fit.Usage // by node; nodes not named have nothing
	}
	a, b := pod("a", 300, 100*mi), pod("b", 0, 0)
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"bound pods count, zero requests with the scoring defaults", []step{
			{func(v *fit.View) { apply(t, v, upsertNode(node("n1", 1000, gi, 10)), bind(a, "n1"), bind(b, "n1")) },
				map[string]fit.Usage{"n1": {Requested: res(300, 100*mi), NonZero: res(400, 300*mi), Pods: 2}}},
		}},
		{"an upsert replaces older requests", []step{
			{func(v *fit.View) { apply(t, v, bind(a, "n1"), bind(pod("a", 100, 0), "n1")) },
				map[string]fit.Usage{"n1": counted(res(100, 0))}},
		}},
		{"an upsert to another node moves the pod", []step{
			{func(v *fit.View) { apply(t, v, bind(a, "n1"), bind(a, "n2")) }, map[string]fit.Usage{"n2": counted(a.Requests)}},
		}},
		{"a pod before its node counts", []step{
			{func(v *fit.View) { apply(t, v, bind(a, "n1")) }, map[string]fit.Usage{"n1": counted(a.Requests)}},
			{func(v *fit.View) { apply(t, v, upsertNode(node("n1", 1000, gi, 10))) }, map[string]fit.Usage{"n1": counted(a.Requests)}},
		}},
		{"a deleted node keeps its pods counted under its name", []step{
			{func(v *fit.View) { apply(t, v, upsertNode(node("n1", 1000, gi, 10)), bind(a, "n1"), deleteNode("n1")) },
				map[string]fit.Usage{"n1": counted(a.Requests)}},
			{func(v *fit.View) { apply(t, v, upsertNode(node("n1", 1000, gi, 10))) }, map[string]fit.Usage{"n1": counted(a.Requests)}},
			{func(v *fit.View) { apply(t, v, deletePod("a")) }, nil},
		}},
		{"delete forgets a bound pod", []step{
			{func(v *fit.View) { apply(t, v, bind(a, "n1"), bind(b, "n1"), deletePod("a")) }, map[string]fit.Usage{"n1": counted(b.Requests)}},
		}},
		{"deleting unknown objects is no error", []step{
			{func(v *fit.View) { apply(t, v, deletePod("ghost"), deleteNode("ghost")) }, nil},
		}},
		{"namespaces keep pods apart", []step{
			{func(v *fit.View) {
				other := a
				other.Namespace = "other"
				apply(t, v, bind(a, "n1"), bind(other, "n1"), deletePod("a"))
			}, map[string]fit.Usage{"n1": counted(a.Requests)}},
		}},
		{"assume counts until the bind, which replaces it", []step{
			{func(v *fit.View) { v.Assume(a, "n1") }, map[string]fit.Usage{"n1": counted(a.Requests)}},
			{func(v *fit.View) { apply(t, v, bind(a, "n1")) }, map[string]fit.Usage{"n1": counted(a.Requests)}},
		}},
		{"a bind elsewhere moves an assumed pod", []step{
			{func(v *fit.View) { v.Assume(a, "n1") }, map[string]fit.Usage{"n1": counted(a.Requests)}},
			{func(v *fit.View) { apply(t, v, bind(a, "n2")) }, map[string]fit.Usage{"n2": counted(a.Requests)}},
		}},
		{"a pending upsert keeps the assumption", []step{
			{func(v *fit.View) { v.Assume(a, "n1"); apply(t, v, bind(pod("a", 5, 5), "")) }, map[string]fit.Usage{"n1": counted(a.Requests)}},
		}},
		{"a pending upsert counts nothing", []step{
			{func(v *fit.View) { apply(t, v, bind(a, "")) }, nil},
		}},
		{"delete drops an assumption (a failed bind)", []step{
			{func(v *fit.View) { v.Assume(a, "n1"); v.Assume(b, "n1"); apply(t, v, deletePod("a")) }, map[string]fit.Usage{"n1": counted(b.Requests)}},
		}},
		{"assume again moves the pod", []step{
			{func(v *fit.View) { v.Assume(a, "n1"); v.Assume(a, "n2") }, map[string]fit.Usage{"n2": counted(a.Requests)}},
		}},
		{"forget drops bound and assumed pods", []step{
			{func(v *fit.View) {
				apply(t, v, bind(a, "n1"))
				v.Assume(b, "n2")
				v.Forget("default", "a")
				v.Forget("default", "b")
			}, nil},
			{func(v *fit.View) { v.Forget("default", "ghost") }, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v fit.View
			for i, s := range tc.steps {
				s.do(&v)
				for _, n := range []string{"n1", "n2"} {
					if got := v.Usage(n); got != s.want[n] {
						t.Errorf("step %d: Usage(%q) = %+v, want %+v", i, n, got, s.want[n])
					}
				}
			}
		})
	}
}

func TestApplyRejectsBadBatchWhole(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change scheduler.Change
		want   string
	}{
		{"unknown type", scheduler.Change{Type: 7, Node: node("x", 1, 1, 1)}, "change 1: unknown change type 7"},
		{"neither", scheduler.Change{}, "change 1: exactly one of node and pod must be set"},
		{"both", scheduler.Change{Node: node("x", 1, 1, 1), Pod: &scheduler.Pod{Name: "p"}}, "change 1: exactly one of node and pod must be set"},
		{"nameless node", upsertNode(&scheduler.Node{}), "change 1: node without a name"},
		{"nameless pod", scheduler.Change{Type: scheduler.Delete, Pod: &scheduler.Pod{Namespace: "ns"}}, `change 1: pod without a name in namespace "ns"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v fit.View
			err := v.Apply([]scheduler.Change{upsertNode(node("n1", 1000, gi, 10)), tc.change, bind(pod("a", 1, 1), "n1")})
			if !errors.Is(err, base.ErrInvalid) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Apply = %v, want base.ErrInvalid saying %q", err, tc.want)
			}
			wantUsage(t, &v, "n1", fit.Usage{})
			if got := v.Feasible(pod("p", 0, 0), func(*scheduler.Node, fit.Usage) {}); got != fit.NoNodesAvailable {
				t.Errorf("the valid part of a rejected batch was applied: Feasible = %q", got)
			}
		})
	}
}

func TestApplyCopiesNodes(t *testing.T) {
	var v fit.View
	n := node("n1", 1000, gi, 10)
	n.Labels = map[string]string{"disk": "ssd"}
	n.Taints = []scheduler.Taint{{Key: "spot", Effect: scheduler.TaintEffectPreferNoSchedule}}
	apply(t, &v, upsertNode(n))
	n.Labels["disk"] = "hdd"
	n.Unschedulable = true
	n.Taints[0].Effect = scheduler.TaintEffectNoSchedule
	p := pod("p", 0, 0)
	p.NodeSelector = map[string]string{"disk": "ssd"}
	if got := v.Feasible(p, func(*scheduler.Node, fit.Usage) {}); got != "" {
		t.Fatalf("Feasible after the caller changed its node = %q, want a fit", got)
	}
}

type visit struct {
	node string
	used fit.Usage
}

func feasible(v *fit.View, p scheduler.Pod) ([]visit, string) {
	var visits []visit
	reason := v.Feasible(p, func(n *scheduler.Node, u fit.Usage) { visits = append(visits, visit{n.Name, u}) })
	return visits, reason
}

func TestFeasible(t *testing.T) {
	var v fit.View
	if visits, reason := feasible(&v, pod("p", 0, 0)); visits != nil || reason != "no nodes available to schedule pods" {
		t.Fatalf("Feasible with no nodes = %v, %q", visits, reason)
	}
	cordoned := node("a-cordoned", 1000, gi, 10)
	cordoned.Unschedulable = true
	notReady := node("b-not-ready", 1000, gi, 10)
	notReady.Ready = false
	apply(t, &v, upsertNode(node("n2", 1000, gi, 10)), upsertNode(cordoned), upsertNode(notReady),
		upsertNode(node("n1", 1000, gi, 10)), upsertNode(node("n3", 100, gi, 1)), bind(pod("r", 500, 0), "n2"))

	visits, reason := feasible(&v, pod("p", 100, mi))
	want := []visit{{"n1", fit.Usage{}}, {"n2", counted(res(500, 0))}, {"n3", fit.Usage{}}}
	if !slices.Equal(visits, want) || reason != "" {
		t.Errorf("Feasible = %v, %q; want %v, \"\" (fitting nodes in name order, with their usage)", visits, reason, want)
	}

	visits, reason = feasible(&v, pod("p", 600, mi))
	if !slices.Equal(visits, []visit{{"n1", fit.Usage{}}}) || reason != "" {
		t.Errorf("Feasible = %v, %q; want only n1", visits, reason)
	}

	visits, reason = feasible(&v, pod("p", 1001, 0))
	const full = "0/5 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, " +
		"1 node(s) were unschedulable, 3 Insufficient cpu."
	if visits != nil || reason != full {
		t.Errorf("Feasible = %v, %q; want no visit and %q", visits, reason, full)
	}

	// A deleted node is no longer filtered, but its pods still count.
	apply(t, &v, deleteNode("n2"), deleteNode("a-cordoned"))
	if _, reason := feasible(&v, pod("p", 1001, 0)); reason != "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient cpu." {
		t.Errorf("after deleting nodes: %q", reason)
	}
	apply(t, &v, upsertNode(node("n2", 1000, gi, 10)))
	if visits, _ := feasible(&v, pod("p", 100, 0)); !slices.Equal(visits, []visit{{"n1", fit.Usage{}}, {"n2", counted(res(500, 0))}, {"n3", fit.Usage{}}}) {
		t.Errorf("after n2 came back: visits %v", visits)
	}
}

// firstFit picks the first node a pod fits on.
func firstFit(v *fit.View) func(scheduler.Pod) (string, string) {
	return func(p scheduler.Pod) (node, reason string) {
		reason = v.Feasible(p, func(n *scheduler.Node, _ fit.Usage) {
			if node == "" {
				node = n.Name
			}
		})
		return node, reason
	}
}

func decisions(ds []scheduler.Decision) string {
	var out []string
	for _, d := range ds {
		if d.NodeName != "" {
			out = append(out, d.Name+"->"+d.NodeName)
		} else {
			out = append(out, d.Name+": "+d.Reason)
		}
	}
	return strings.Join(out, "; ")
}

func TestSchedule(t *testing.T) {
	ctx := context.Background()
	var v fit.View
	apply(t, &v, upsertNode(node("n1", 1000, gi, 3)))

	ds, err := v.Schedule(ctx, []scheduler.Pod{pod("a", 600, 0), pod("b", 600, 0), pod("c", 400, 0)}, firstFit(&v))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := decisions(ds), "a->n1; b: 0/1 nodes are available: 1 Insufficient cpu.; c->n1"; got != want {
		t.Fatalf("Schedule = %s\nwant %s (earlier pods of the batch count)", got, want)
	}
	wantUsage(t, &v, "n1", counted(res(600, 0), res(400, 0)))

	// Placed afresh, counted once: the pick does not see the pod itself.
	var seen fit.Usage
	ds, err = v.Schedule(ctx, []scheduler.Pod{pod("a", 600, 0)}, func(p scheduler.Pod) (string, string) {
		seen = v.Usage("n1")
		return firstFit(&v)(p)
	})
	if err != nil || decisions(ds) != "a->n1" {
		t.Fatalf("Schedule again = %s, %v", decisions(ds), err)
	}
	if want := counted(res(400, 0)); seen != want {
		t.Errorf("pick saw usage %+v, want %+v (without the pod being placed)", seen, want)
	}
	wantUsage(t, &v, "n1", counted(res(600, 0), res(400, 0)))

	// A pod that no longer fits loses its old assumption.
	ds, err = v.Schedule(ctx, []scheduler.Pod{pod("a", 2000, 0)}, firstFit(&v))
	if err != nil || decisions(ds) != "a: 0/1 nodes are available: 1 Insufficient cpu." {
		t.Fatalf("Schedule too big = %s, %v", decisions(ds), err)
	}
	wantUsage(t, &v, "n1", counted(res(400, 0)))

	// Assumed pods count across calls, until the core deletes them.
	if ds, _ := v.Schedule(ctx, []scheduler.Pod{pod("d", 0, 0), pod("e", 0, 0), pod("f", 0, 0)}, firstFit(&v)); decisions(ds) !=
		"d->n1; e->n1; f: 0/1 nodes are available: 1 Too many pods." {
		t.Fatalf("Schedule = %s", decisions(ds))
	}
	apply(t, &v, deletePod("d"))
	if ds, _ := v.Schedule(ctx, []scheduler.Pod{pod("f", 0, 0)}, firstFit(&v)); decisions(ds) != "f->n1" {
		t.Fatalf("Schedule after a delete = %s", decisions(ds))
	}

	if ds, err := v.Schedule(ctx, nil, firstFit(&v)); err != nil || len(ds) != 0 {
		t.Fatalf("Schedule(no pods) = %v, %v", ds, err)
	}
}

func TestScheduleRejectsUnnamedPod(t *testing.T) {
	var v fit.View
	apply(t, &v, upsertNode(node("n1", 1000, gi, 10)))
	v.Assume(pod("a", 100, 0), "n1")
	_, err := v.Schedule(context.Background(), []scheduler.Pod{pod("a", 100, 0), {Namespace: "ns"}}, firstFit(&v))
	if !errors.Is(err, scheduler.ErrUnknownPod) || !strings.Contains(err.Error(), `pod 1 of the batch (namespace "ns") has no name`) {
		t.Fatalf("Schedule = %v, want scheduler.ErrUnknownPod naming pod 1", err)
	}
	wantUsage(t, &v, "n1", counted(res(100, 0)))
}

func TestScheduleStopsWithContext(t *testing.T) {
	var v fit.View
	apply(t, &v, upsertNode(node("n1", 1000, gi, 10)))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := v.Schedule(ctx, []scheduler.Pod{pod("a", 0, 0), pod("b", 0, 0)}, func(p scheduler.Pod) (string, string) {
		calls++
		cancel()
		return firstFit(&v)(p)
	})
	if !errors.Is(err, context.Canceled) || err.Error() != "scheduling pod default/b: context canceled" || calls != 1 {
		t.Fatalf("Schedule = %v after %d picks, want context.Canceled after 1", err, calls)
	}
	// The answer is dropped, so nothing of the batch stays assumed.
	if u := v.Usage("n1"); u.Pods != 0 {
		t.Errorf("after a cancelled batch n1 counts %d pods, want 0", u.Pods)
	}
}
