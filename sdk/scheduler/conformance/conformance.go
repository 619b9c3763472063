// Package conformance is the test suite every scheduler plugin runs:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) scheduler.Scheduler { return myplugin.New() })
//	}
//
// It drives the plugin through the real gRPC path (go-plugin's
// TestPluginGRPCConn), the way the core does, so what it tests is what
// ships. It checks the contract, not a placement strategy: whenever more
// than one node fits, any of them is accepted.
//
// RunBinary runs the same suite against the plugin's binary, started as a
// separate process the way the core starts it. In the plugin's main
// package (main_test.go):
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) { conformance.RunBinary(t, "myplugin") }
//
// where "myplugin" is the name the plugin's Info reports.
package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// Run runs the suite. factory returns a new plugin, not yet configured, for
// each test; the suite configures it (with a DataDir under t.TempDir()).
func Run(t *testing.T, factory func(t *testing.T) scheduler.Scheduler) {
	t.Run("Info", func(t *testing.T) { testInfo(t, connect(t, factory(t))) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, configured(t, factory(t)))
		})
	}
}

var cases = []struct {
	name string
	fn   func(t *testing.T, s scheduler.Scheduler)
}{
	{"NoNodes", testNoNodes},
	{"EmptyBatch", testEmptyBatch},
	{"PicksNodeThatFits", testPicksNodeThatFits},
	{"OneDecisionPerPodInOrder", testDecisionsInOrder},
	{"NotReadyNode", testNotReadyNode},
	{"UnschedulableNode", testUnschedulableNode},
	{"NodeSelector", testNodeSelector},
	{"Taints", testTaints},
	{"TolerationsOfCordonedAndNotReady", testTolerationsOfNodeState},
	{"InsufficientResources", testInsufficientResources},
	{"ReasonHistogram", testReasonHistogram},
	{"FilterPrecedence", testFilterPrecedence},
	{"BatchCountsEarlierPods", testBatchCountsEarlierPods},
	{"AssumedPodsCountAcrossCalls", testAssumedAcrossCalls},
	{"DeleteFreesCapacity", testDeleteFreesCapacity},
	{"BoundUpsertReplacesAssumed", testBoundUpsertReplacesAssumed},
	{"UpsertReplaces", testUpsertReplaces},
	{"DeleteNode", testDeleteNode},
	{"DeleteUnknownIsNoError", testDeleteUnknown},
	{"PodBeforeItsNode", testPodBeforeItsNode},
	{"ZeroRequestPod", testZeroRequestPod},
	{"UnnamedPodIsRejected", testUnnamedPod},
}

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

// connect serves impl through go-plugin's gRPC test connection and returns
// the host's view of it.
func connect(t *testing.T, impl scheduler.Scheduler) scheduler.Scheduler {
	t.Helper()
	kind := string(base.KindScheduler)
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		kind: &scheduler.GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller
	// service; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %q: %v", kind, err)
	}
	s, ok := raw.(scheduler.Scheduler)
	if !ok {
		t.Fatalf("dispense %q: got %T, which is not a scheduler.Scheduler", kind, raw)
	}
	return s
}

func configured(t *testing.T, impl scheduler.Scheduler) scheduler.Scheduler {
	t.Helper()
	s := connect(t, impl)
	if err := s.Configure(ctx(t), base.Config{DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func node(name string, milliCPU, memory, pods int64) *scheduler.Node {
	return &scheduler.Node{
		Name:        name,
		Ready:       true,
		Allocatable: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory, Pods: pods},
	}
}

func pod(name string, milliCPU, memory int64) scheduler.Pod {
	return scheduler.Pod{
		Namespace: "default",
		Name:      name,
		UID:       "uid-" + name,
		Requests:  scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory},
	}
}

func bound(p scheduler.Pod, nodeName string) *scheduler.Pod {
	p.NodeName = nodeName
	return &p
}

func upsertNodes(nodes ...*scheduler.Node) []scheduler.Change {
	out := make([]scheduler.Change, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, scheduler.Change{Type: scheduler.Upsert, Node: n})
	}
	return out
}

func upsertPod(p *scheduler.Pod) scheduler.Change {
	return scheduler.Change{Type: scheduler.Upsert, Pod: p}
}

func deletePod(namespace, name string) scheduler.Change {
	return scheduler.Change{Type: scheduler.Delete, Pod: &scheduler.Pod{Namespace: namespace, Name: name}}
}

func update(t *testing.T, s scheduler.Scheduler, changes ...scheduler.Change) {
	t.Helper()
	if err := s.Update(ctx(t), changes); err != nil {
		t.Fatalf("Update(%d changes): %v", len(changes), err)
	}
}

// schedule calls Schedule and checks the answer's shape: one decision per
// pod, in order, each with either a node or a reason.
func schedule(t *testing.T, s scheduler.Scheduler, pods ...scheduler.Pod) []scheduler.Decision {
	t.Helper()
	ds, err := s.Schedule(ctx(t), pods)
	if err != nil {
		t.Fatalf("Schedule(%d pods): %v", len(pods), err)
	}
	if len(ds) != len(pods) {
		t.Fatalf("Schedule(%d pods) returned %d decisions, want one per pod", len(pods), len(ds))
	}
	for i, d := range ds {
		p := pods[i]
		if d.Namespace != p.Namespace || d.Name != p.Name {
			t.Fatalf("decision %d is for pod %s/%s, want %s/%s (decisions must follow the order of the pods)",
				i, d.Namespace, d.Name, p.Namespace, p.Name)
		}
		if (d.NodeName == "") == (d.Reason == "") {
			t.Fatalf("decision for pod %s/%s: NodeName %q, Reason %q: exactly one must be set",
				p.Namespace, p.Name, d.NodeName, d.Reason)
		}
	}
	return ds
}

func scheduleOne(t *testing.T, s scheduler.Scheduler, p scheduler.Pod) scheduler.Decision {
	t.Helper()
	return schedule(t, s, p)[0]
}

func wantNode(t *testing.T, d scheduler.Decision, nodes ...string) {
	t.Helper()
	if !slices.Contains(nodes, d.NodeName) {
		t.Fatalf("pod %s/%s: got node %q (reason %q), want one of %q", d.Namespace, d.Name, d.NodeName, d.Reason, nodes)
	}
}

func wantReason(t *testing.T, d scheduler.Decision, reason string) {
	t.Helper()
	if d.NodeName != "" || d.Reason != reason {
		t.Fatalf("pod %s/%s: got node %q, reason %q\nwant no node and reason %q", d.Namespace, d.Name, d.NodeName, d.Reason, reason)
	}
}

func testInfo(t *testing.T, s scheduler.Scheduler) {
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatalf("Info (before Configure): %v", err)
	}
	if info.Kind != base.KindScheduler {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, base.KindScheduler)
	}
	if info.Name == "" {
		t.Errorf("Info().Name is empty")
	}
	if info.APIVersion != scheduler.APIVersion {
		t.Errorf("Info().APIVersion = %d, want %d", info.APIVersion, scheduler.APIVersion)
	}
}

func testNoNodes(t *testing.T, s scheduler.Scheduler) {
	wantReason(t, scheduleOne(t, s, pod("web", 100, 0)), "no nodes available to schedule pods")
}

func testEmptyBatch(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	ds, err := s.Schedule(ctx(t), nil)
	if err != nil {
		t.Fatalf("Schedule(no pods): %v", err)
	}
	if len(ds) != 0 {
		t.Fatalf("Schedule(no pods) = %v, want no decisions", ds)
	}
}

func testPicksNodeThatFits(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("small", 1000, 1*gi, 10), node("big", 4000, 8*gi, 10))...)
	wantNode(t, scheduleOne(t, s, pod("cpu-hungry", 2000, 0)), "big")
	wantNode(t, scheduleOne(t, s, pod("mem-hungry", 0, 2*gi)), "big")
	wantNode(t, scheduleOne(t, s, pod("tiny", 10, mi)), "small", "big")
}

func testDecisionsInOrder(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, 1*gi, 10))...)
	pods := []scheduler.Pod{pod("c", 100, 0), pod("a", 5000, 0), pod("b", 100, 0)}
	pods[1].Namespace = "other"
	ds := schedule(t, s, pods...)
	wantNode(t, ds[0], "n1")
	wantReason(t, ds[1], "0/1 nodes are available: 1 Insufficient cpu.")
	wantNode(t, ds[2], "n1")
}

func testNotReadyNode(t *testing.T, s scheduler.Scheduler) {
	notReady := node("not-ready", 8000, 8*gi, 10)
	notReady.Ready = false
	update(t, s, upsertNodes(notReady)...)
	wantReason(t, scheduleOne(t, s, pod("web", 100, 0)),
		"0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.")
	update(t, s, upsertNodes(node("ready", 1000, gi, 10))...)
	wantNode(t, scheduleOne(t, s, pod("web", 100, 0)), "ready")
}

func testUnschedulableNode(t *testing.T, s scheduler.Scheduler) {
	cordoned := node("cordoned", 8000, 8*gi, 10)
	cordoned.Unschedulable = true
	update(t, s, upsertNodes(cordoned)...)
	wantReason(t, scheduleOne(t, s, pod("web", 100, 0)), "0/1 nodes are available: 1 node(s) were unschedulable.")
	update(t, s, upsertNodes(node("open", 1000, gi, 10))...)
	wantNode(t, scheduleOne(t, s, pod("web", 100, 0)), "open")
}

func testNodeSelector(t *testing.T, s scheduler.Scheduler) {
	ssd := node("ssd", 1000, gi, 10)
	ssd.Labels = map[string]string{"disk": "ssd", "zone": "a"}
	hdd := node("hdd", 8000, 8*gi, 10)
	hdd.Labels = map[string]string{"disk": "hdd", "zone": "a"}
	update(t, s, upsertNodes(ssd, hdd)...)

	p := pod("db", 100, 0)
	p.NodeSelector = map[string]string{"disk": "ssd", "zone": "a"}
	wantNode(t, scheduleOne(t, s, p), "ssd")

	p = pod("gpu", 100, 0)
	p.NodeSelector = map[string]string{"gpu": "true"}
	wantReason(t, scheduleOne(t, s, p), "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")
}

// testTaints: kind's cluster, a control plane tainted NoSchedule and a
// worker. A pod goes to the control plane only if it tolerates the taint;
// NoExecute filters as NoSchedule does, PreferNoSchedule never filters.
func testTaints(t *testing.T, s scheduler.Scheduler) {
	const key = "node-role.kubernetes.io/control-plane"
	cp := node("control-plane", 4000, 8*gi, 10)
	cp.Taints = []scheduler.Taint{{Key: key, Effect: scheduler.TaintEffectNoSchedule}}
	update(t, s, upsertNodes(cp, node("worker", 1000, gi, 10))...)

	wantNode(t, scheduleOne(t, s, pod("web", 100, 0)), "worker")
	wantReason(t, scheduleOne(t, s, pod("big", 2000, 0)),
		"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.")
	for _, tol := range []scheduler.Toleration{
		{Key: key, Operator: scheduler.TolerationOpExists},
		{Key: key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule},
		{Key: key, Operator: scheduler.TolerationOpEqual, Value: ""},
		{Operator: scheduler.TolerationOpExists},
	} {
		p := pod("big", 2000, 0)
		p.Tolerations = []scheduler.Toleration{tol}
		d := scheduleOne(t, s, p)
		wantNode(t, d, "control-plane")
		update(t, s, deletePod("default", "big"))
	}
	p := pod("big", 2000, 0)
	p.Tolerations = []scheduler.Toleration{{Key: key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoExecute}}
	wantReason(t, scheduleOne(t, s, p),
		"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.")

	// The node's taints change: NoExecute filters, with the value in the
	// reason; a taint comes before the node selector.
	cp.Taints = []scheduler.Taint{{Key: "maintenance", Value: "now", Effect: scheduler.TaintEffectNoExecute}}
	update(t, s, upsertNodes(cp)...)
	p = pod("big", 2000, 0)
	p.NodeSelector = map[string]string{"disk": "ssd"}
	wantReason(t, scheduleOne(t, s, p),
		"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {maintenance: now}.")
	p = pod("big", 2000, 0)
	p.Tolerations = []scheduler.Toleration{{Key: "maintenance", Operator: scheduler.TolerationOpEqual, Value: "later"}}
	wantReason(t, scheduleOne(t, s, p),
		"0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {maintenance: now}.")
	p.Tolerations = []scheduler.Toleration{{Key: "maintenance", Value: "now"}}
	wantNode(t, scheduleOne(t, s, p), "control-plane")
	update(t, s, deletePod("default", "big"))

	// PreferNoSchedule never filters: the pod fits only there.
	cp.Taints = []scheduler.Taint{{Key: "spot", Value: "true", Effect: scheduler.TaintEffectPreferNoSchedule}}
	update(t, s, upsertNodes(cp)...)
	wantNode(t, scheduleOne(t, s, pod("big", 2000, 0)), "control-plane")

	// The taints are gone.
	cp.Taints = nil
	update(t, s, upsertNodes(cp)...)
	wantNode(t, scheduleOne(t, s, pod("bigger", 2000, 0)), "control-plane")
}

// testTolerationsOfNodeState: Unschedulable and not Ready stand for
// Kubernetes' node.kubernetes.io/unschedulable and not-ready taints, which
// a pod may tolerate, as in kube-scheduler.
func testTolerationsOfNodeState(t *testing.T, s scheduler.Scheduler) {
	cordoned := node("cordoned", 8000, 8*gi, 10)
	cordoned.Unschedulable = true
	update(t, s, upsertNodes(cordoned)...)
	p := pod("daemon", 100, 0)
	p.Tolerations = []scheduler.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: scheduler.TolerationOpExists}}
	wantReason(t, scheduleOne(t, s, p), "0/1 nodes are available: 1 node(s) were unschedulable.")
	p.Tolerations = append(p.Tolerations, scheduler.Toleration{Key: "node.kubernetes.io/unschedulable", Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule})
	wantNode(t, scheduleOne(t, s, p), "cordoned")
	update(t, s, deletePod("default", "daemon"))

	notReady := node("cordoned", 8000, 8*gi, 10)
	notReady.Ready = false
	update(t, s, upsertNodes(notReady)...)
	p.Tolerations = p.Tolerations[1:]
	wantReason(t, scheduleOne(t, s, p), "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.")
	p.Tolerations = []scheduler.Toleration{{Operator: scheduler.TolerationOpExists}}
	wantNode(t, scheduleOne(t, s, p), "cordoned")
}

func testInsufficientResources(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, 1*gi, 2))...)
	update(t, s, upsertPod(bound(pod("resident", 0, 0), "n1")))
	for _, tc := range []struct {
		pod    scheduler.Pod
		reason string
	}{
		{pod("cpu", 1001, 0), "0/1 nodes are available: 1 Insufficient cpu."},
		{pod("memory", 0, 1*gi+1), "0/1 nodes are available: 1 Insufficient memory."},
		{pod("both", 2000, 2*gi), "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
	} {
		wantReason(t, scheduleOne(t, s, tc.pod), tc.reason)
	}
	// Exactly the allocatable amount fits.
	wantNode(t, scheduleOne(t, s, pod("exact", 1000, 1*gi)), "n1")
	// The node now holds two pods, its capacity.
	wantReason(t, scheduleOne(t, s, pod("third", 0, 0)), "0/1 nodes are available: 1 Too many pods.")
	wantReason(t, scheduleOne(t, s, pod("third-cpu", 1, 0)), "0/1 nodes are available: 1 Insufficient cpu, 1 Too many pods.")
}

func testReasonHistogram(t *testing.T, s scheduler.Scheduler) {
	cordoned := node("cordoned", 8000, 8*gi, 10)
	cordoned.Unschedulable = true
	notReady := node("not-ready", 8000, 8*gi, 10)
	notReady.Ready = false
	labelled := node("labelled", 8000, 8*gi, 10)
	labelled.Labels = map[string]string{"disk": "hdd"}
	small := node("small", 8000, 1*gi, 10)
	small.Labels = map[string]string{"disk": "ssd"}
	update(t, s, upsertNodes(cordoned, notReady, labelled, small)...)

	p := pod("db", 100, 2*gi)
	p.NodeSelector = map[string]string{"disk": "ssd"}
	wantReason(t, scheduleOne(t, s, p), "0/4 nodes are available: 1 Insufficient memory, "+
		"1 node(s) didn't match Pod's node affinity/selector, "+
		"1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "+
		"1 node(s) were unschedulable.")
}

// testFilterPrecedence checks that a node is counted under the first filter
// it fails, in kube-scheduler's order (unschedulable, taints, node
// selector, resources), and that the histogram entries are sorted as
// strings, count first, as kube-scheduler does ("10 ..." before "2 ...").
func testFilterPrecedence(t *testing.T, s scheduler.Scheduler) {
	var nodes []*scheduler.Node
	for _, name := range []string{"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"} {
		n := node(name, 100, mi, 10) // too small as well, but cordoned first
		n.Unschedulable = true
		n.Ready = false
		nodes = append(nodes, n)
	}
	for _, name := range []string{"t0", "t1"} {
		n := node(name, 100, mi, 10) // too small and mislabelled, but not ready first
		n.Ready = false
		n.Labels = map[string]string{"disk": "hdd"}
		nodes = append(nodes, n)
	}
	for _, name := range []string{"s0", "s1"} {
		n := node(name, 100, mi, 10)
		n.Labels = map[string]string{"disk": "hdd"}
		nodes = append(nodes, n)
	}
	update(t, s, upsertNodes(nodes...)...)
	p := pod("big", 1000, gi)
	p.NodeSelector = map[string]string{"disk": "ssd"}
	wantReason(t, scheduleOne(t, s, p), "0/14 nodes are available: "+
		"10 node(s) were unschedulable, "+
		"2 node(s) didn't match Pod's node affinity/selector, "+
		"2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.")
}

func testBatchCountsEarlierPods(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 3))...)
	ds := schedule(t, s, pod("a", 600, 0), pod("b", 600, 0), pod("c", 400, 0), pod("d", 0, 0))
	wantNode(t, ds[0], "n1")
	wantReason(t, ds[1], "0/1 nodes are available: 1 Insufficient cpu.")
	wantNode(t, ds[2], "n1")
	wantNode(t, ds[3], "n1")
	wantReason(t, scheduleOne(t, s, pod("e", 0, 0)), "0/1 nodes are available: 1 Too many pods.")
}

func testAssumedAcrossCalls(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	wantNode(t, scheduleOne(t, s, pod("a", 600, 0)), "n1")
	wantReason(t, scheduleOne(t, s, pod("b", 600, 0)), "0/1 nodes are available: 1 Insufficient cpu.")
}

func testDeleteFreesCapacity(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	update(t, s, upsertPod(bound(pod("bound", 800, 0), "n1")))
	wantReason(t, scheduleOne(t, s, pod("a", 600, 0)), "0/1 nodes are available: 1 Insufficient cpu.")

	update(t, s, deletePod("default", "bound"))
	wantNode(t, scheduleOne(t, s, pod("a", 600, 0)), "n1")

	// A delete also drops a pod the plugin only assumed (a failed bind).
	wantReason(t, scheduleOne(t, s, pod("b", 600, 0)), "0/1 nodes are available: 1 Insufficient cpu.")
	update(t, s, deletePod("default", "a"))
	wantNode(t, scheduleOne(t, s, pod("b", 600, 0)), "n1")
}

func testBoundUpsertReplacesAssumed(t *testing.T, s scheduler.Scheduler) {
	relabel(t, s, node("n1", 1000, gi, 10), node("n2", 1000, gi, 10))
	a := onlyOn(pod("a", 600, 0), "n1")
	wantNode(t, scheduleOne(t, s, a), "n1")
	const full = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector."

	// The core confirms the bind: "a" is counted once, not twice.
	update(t, s, upsertPod(bound(a, "n1")))
	wantNode(t, scheduleOne(t, s, onlyOn(pod("b", 400, 0), "n1")), "n1")
	wantReason(t, scheduleOne(t, s, onlyOn(pod("c", 1, 0), "n1")), full)

	// The core bound "a" to n2 after all: it moves there.
	update(t, s, upsertPod(bound(a, "n2")))
	wantNode(t, scheduleOne(t, s, onlyOn(pod("d", 600, 0), "n1")), "n1")
	wantReason(t, scheduleOne(t, s, onlyOn(pod("e", 600, 0), "n2")), full)
}

// relabel upserts nodes with a "name" label equal to their name, so that
// onlyOn can pin a pod to one of them.
func relabel(t *testing.T, s scheduler.Scheduler, nodes ...*scheduler.Node) {
	t.Helper()
	for _, n := range nodes {
		n.Labels = map[string]string{"name": n.Name}
	}
	update(t, s, upsertNodes(nodes...)...)
}

func onlyOn(p scheduler.Pod, nodeName string) scheduler.Pod {
	p.NodeSelector = map[string]string{"name": nodeName}
	return p
}

func testUpsertReplaces(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	update(t, s, upsertPod(bound(pod("resident", 500, 0), "n1")))
	// The pod's requests change: the new ones replace the old.
	update(t, s, upsertPod(bound(pod("resident", 100, 0), "n1")))
	wantNode(t, scheduleOne(t, s, pod("a", 900, 0)), "n1")
	update(t, s, deletePod("default", "a"))

	// The node shrinks: the new allocatable replaces the old.
	update(t, s, upsertNodes(node("n1", 500, gi, 10))...)
	wantReason(t, scheduleOne(t, s, pod("b", 500, 0)), "0/1 nodes are available: 1 Insufficient cpu.")
	wantNode(t, scheduleOne(t, s, pod("c", 400, 0)), "n1")
}

func testDeleteNode(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10), node("n2", 1000, gi, 10))...)
	update(t, s, scheduler.Change{Type: scheduler.Delete, Node: &scheduler.Node{Name: "n1"}})
	wantNode(t, scheduleOne(t, s, pod("a", 100, 0)), "n2")
	update(t, s, scheduler.Change{Type: scheduler.Delete, Node: &scheduler.Node{Name: "n2"}})
	wantReason(t, scheduleOne(t, s, pod("b", 100, 0)), "no nodes available to schedule pods")
}

func testDeleteUnknown(t *testing.T, s scheduler.Scheduler) {
	update(t, s,
		scheduler.Change{Type: scheduler.Delete, Node: &scheduler.Node{Name: "ghost"}},
		deletePod("default", "ghost"),
	)
}

// testPodBeforeItsNode: after a restart the core replays nodes and bound
// pods in no promised order; a pod seen before its node still counts.
func testPodBeforeItsNode(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertPod(bound(pod("early", 800, 0), "n1")))
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	wantReason(t, scheduleOne(t, s, pod("a", 600, 0)), "0/1 nodes are available: 1 Insufficient cpu.")
	wantNode(t, scheduleOne(t, s, pod("b", 200, 0)), "n1")
}

// testZeroRequestPod: a pod that requests nothing fits on any node with
// room for one more pod, as in Kubernetes.
func testZeroRequestPod(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("bare", 0, 0, 1))...)
	wantNode(t, scheduleOne(t, s, pod("best-effort", 0, 0)), "bare")
}

func testUnnamedPod(t *testing.T, s scheduler.Scheduler) {
	update(t, s, upsertNodes(node("n1", 1000, gi, 10))...)
	_, err := s.Schedule(ctx(t), []scheduler.Pod{{Namespace: "default"}})
	if !errors.Is(err, scheduler.ErrUnknownPod) {
		t.Fatalf("Schedule(pod without a name) error = %v, want one wrapping scheduler.ErrUnknownPod", err)
	}
}
