package fit_test

import (
	"slices"
	"testing"

	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

const (
	mi = int64(1) << 20
	gi = int64(1) << 30
)

func TestFilter(t *testing.T) {
	ready := scheduler.Node{Name: "n", Ready: true, Labels: map[string]string{"disk": "ssd", "zone": "a"},
		Allocatable: scheduler.Resources{MilliCPU: 1000, MemoryBytes: gi, Pods: 3}}
	with := func(f func(n *scheduler.Node)) scheduler.Node {
		n := ready
		f(&n)
		return n
	}
	used := fit.Usage{Requested: scheduler.Resources{MilliCPU: 600, MemoryBytes: 512 * mi}, Pods: 2}
	full := fit.Usage{Requested: used.Requested, Pods: 3}
	pod := func(milliCPU, memory int64, selector map[string]string) scheduler.Pod {
		return scheduler.Pod{Namespace: "default", Name: "p",
			Requests: scheduler.Resources{MilliCPU: milliCPU, MemoryBytes: memory}, NodeSelector: selector}
	}
	for _, tc := range []struct {
		name string
		node scheduler.Node
		used fit.Usage
		pod  scheduler.Pod
		want []string
	}{
		{"fits on an empty node", ready, fit.Usage{}, pod(1000, gi, nil), nil},
		{"exactly what is left fits", ready, used, pod(400, 512*mi, nil), nil},
		{"zero requests fit on a node with nothing", with(func(n *scheduler.Node) { n.Allocatable = scheduler.Resources{Pods: 1} }),
			fit.Usage{}, pod(0, 0, nil), nil},
		{"zero requests never fail a resource", ready, fit.Usage{Requested: scheduler.Resources{MilliCPU: 2000, MemoryBytes: 2 * gi}, Pods: 1},
			pod(0, 0, nil), nil},
		{"matching selector", ready, fit.Usage{}, pod(1, 1, map[string]string{"disk": "ssd", "zone": "a"}), nil},
		{"cordoned", with(func(n *scheduler.Node) { n.Unschedulable = true }), fit.Usage{}, pod(1, 1, nil),
			[]string{fit.ReasonUnschedulable}},
		{"cordoned comes before everything", with(func(n *scheduler.Node) { n.Unschedulable, n.Ready = true, false }), full,
			pod(5000, 5*gi, map[string]string{"gpu": "yes"}), []string{"node(s) were unschedulable"}},
		{"not ready", with(func(n *scheduler.Node) { n.Ready = false }), fit.Usage{}, pod(1, 1, nil),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"not ready comes before selector and resources", with(func(n *scheduler.Node) { n.Ready = false }), full,
			pod(5000, 5*gi, map[string]string{"gpu": "yes"}), []string{fit.ReasonNotReady}},
		{"missing label", ready, fit.Usage{}, pod(1, 1, map[string]string{"gpu": "yes"}),
			[]string{"node(s) didn't match Pod's node affinity/selector"}},
		{"other value", ready, fit.Usage{}, pod(1, 1, map[string]string{"disk": "hdd"}), []string{fit.ReasonNodeSelector}},
		{"selector comes before resources", ready, full, pod(5000, 5*gi, map[string]string{"disk": "hdd"}),
			[]string{fit.ReasonNodeSelector}},
		{"cpu", ready, used, pod(401, 0, nil), []string{"Insufficient cpu"}},
		{"memory", ready, used, pod(0, 512*mi+1, nil), []string{"Insufficient memory"}},
		{"pods", ready, full, pod(0, 0, nil), []string{"Too many pods"}},
		{"every resource, pods first", ready, full, pod(401, gi, nil),
			[]string{fit.ReasonTooManyPods, fit.ReasonInsufficientCPU, fit.ReasonInsufficientMemory}},
		{"a node without pod capacity takes no pod", with(func(n *scheduler.Node) { n.Allocatable.Pods = 0 }), fit.Usage{},
			pod(1, 1, nil), []string{fit.ReasonTooManyPods}},
		{"over-committed node", ready, fit.Usage{Requested: scheduler.Resources{MilliCPU: 1500}, Pods: 1}, pod(1, 0, nil),
			[]string{fit.ReasonInsufficientCPU}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit.Filter(&tc.node, tc.used, tc.pod); !slices.Equal(got, tc.want) {
				t.Errorf("Filter = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFilterTaints(t *testing.T) {
	controlPlane := scheduler.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: scheduler.TaintEffectNoSchedule}
	dedicated := scheduler.Taint{Key: "dedicated", Value: "gpu", Effect: scheduler.TaintEffectNoSchedule}
	noExecute := scheduler.Taint{Key: "maintenance", Value: "now", Effect: scheduler.TaintEffectNoExecute}
	prefer := scheduler.Taint{Key: "spot", Value: "true", Effect: scheduler.TaintEffectPreferNoSchedule}
	node := func(f func(n *scheduler.Node), taints ...scheduler.Taint) scheduler.Node {
		n := scheduler.Node{Name: "n", Ready: true, Labels: map[string]string{"zone": "a"}, Taints: taints,
			Allocatable: scheduler.Resources{MilliCPU: 1000, MemoryBytes: gi, Pods: 3}}
		if f != nil {
			f(&n)
		}
		return n
	}
	pod := func(f func(p *scheduler.Pod), tolerations ...scheduler.Toleration) scheduler.Pod {
		p := scheduler.Pod{Namespace: "default", Name: "p", Requests: scheduler.Resources{MilliCPU: 100, MemoryBytes: mi},
			Tolerations: tolerations}
		if f != nil {
			f(&p)
		}
		return p
	}
	exists := func(key string) scheduler.Toleration {
		return scheduler.Toleration{Key: key, Operator: scheduler.TolerationOpExists}
	}
	notReady := func(n *scheduler.Node) { n.Ready = false }
	cordoned := func(n *scheduler.Node) { n.Unschedulable = true }
	const controlPlaneReason = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
	for _, tc := range []struct {
		name string
		node scheduler.Node
		used fit.Usage
		pod  scheduler.Pod
		want []string
	}{
		{"control-plane taint, no toleration", node(nil, controlPlane), fit.Usage{}, pod(nil),
			[]string{controlPlaneReason}},
		{"control-plane taint tolerated with Exists", node(nil, controlPlane), fit.Usage{},
			pod(nil, exists("node-role.kubernetes.io/control-plane")), nil},
		{"Exists with an effect tolerates only that effect", node(nil, controlPlane), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: controlPlane.Key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoExecute}),
			[]string{controlPlaneReason}},
		{"Exists with the taint's effect", node(nil, controlPlane), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: controlPlane.Key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule}), nil},
		{"another key does not tolerate", node(nil, controlPlane), fit.Usage{}, pod(nil, exists("node-role.kubernetes.io/master")),
			[]string{controlPlaneReason}},
		{"the value is in the reason", node(nil, dedicated), fit.Usage{}, pod(nil),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"Equal with the same value", node(nil, dedicated), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: "dedicated", Operator: scheduler.TolerationOpEqual, Value: "gpu"}), nil},
		{"no operator is Equal", node(nil, dedicated), fit.Usage{}, pod(nil, scheduler.Toleration{Key: "dedicated", Value: "gpu"}), nil},
		{"Equal with another value", node(nil, dedicated), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: "dedicated", Operator: scheduler.TolerationOpEqual, Value: "tpu"}),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"NoExecute filters as NoSchedule", node(nil, noExecute), fit.Usage{}, pod(nil),
			[]string{"node(s) had untolerated taint {maintenance: now}"}},
		{"PreferNoSchedule never filters", node(nil, prefer), fit.Usage{}, pod(nil), nil},
		{"the first untolerated taint counts", node(nil, prefer, controlPlane, dedicated), fit.Usage{},
			pod(nil, exists(controlPlane.Key)), []string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"an empty key with Exists tolerates every taint", node(nil, controlPlane, dedicated, noExecute), fit.Usage{},
			pod(nil, scheduler.Toleration{Operator: scheduler.TolerationOpExists}), nil},
		{"an unknown operator tolerates nothing", node(nil, controlPlane), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: controlPlane.Key, Operator: "Lt"}), []string{controlPlaneReason}},
		{"cordoned comes before taints", node(cordoned, controlPlane), fit.Usage{}, pod(nil), []string{fit.ReasonUnschedulable}},
		{"a node's taints come before not ready", node(notReady, controlPlane), fit.Usage{}, pod(nil), []string{controlPlaneReason}},
		{"not ready once the node's taints are tolerated", node(notReady, controlPlane), fit.Usage{},
			pod(nil, exists(controlPlane.Key)), []string{fit.ReasonNotReady}},
		{"taints come before selector and resources", node(nil, controlPlane), fit.Usage{Requested: scheduler.Resources{MilliCPU: 1000}, Pods: 3},
			pod(func(p *scheduler.Pod) { p.NodeSelector = map[string]string{"zone": "b"} }), []string{controlPlaneReason}},
		{"a tolerated taint leaves the selector", node(nil, controlPlane), fit.Usage{},
			pod(func(p *scheduler.Pod) { p.NodeSelector = map[string]string{"zone": "b"} }, exists(controlPlane.Key)),
			[]string{fit.ReasonNodeSelector}},
		{"a tolerated taint leaves resources", node(nil, controlPlane), fit.Usage{Requested: scheduler.Resources{MilliCPU: 1000}, Pods: 1},
			pod(nil, exists(controlPlane.Key)), []string{fit.ReasonInsufficientCPU}},
		// The taints Ready and Unschedulable stand for are tolerated as in
		// kube-scheduler (NodeUnschedulable, TaintToleration).
		{"the unschedulable taint tolerated", node(cordoned), fit.Usage{}, pod(nil, exists("node.kubernetes.io/unschedulable")), nil},
		{"the not-ready taint tolerated", node(notReady), fit.Usage{}, pod(nil, exists("node.kubernetes.io/not-ready")), nil},
		{"the not-ready taint tolerated for NoExecute only", node(notReady), fit.Usage{},
			pod(nil, scheduler.Toleration{Key: "node.kubernetes.io/not-ready", Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoExecute}),
			[]string{fit.ReasonNotReady}},
		{"tolerate everything", node(func(n *scheduler.Node) { n.Unschedulable, n.Ready = true, false }, controlPlane), fit.Usage{},
			pod(nil, scheduler.Toleration{Operator: scheduler.TolerationOpExists}), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit.Filter(&tc.node, tc.used, tc.pod); !slices.Equal(got, tc.want) {
				t.Errorf("Filter = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		nodes    int
		failures map[string]int
		want     string
	}{
		{"no nodes", 0, nil, "no nodes available to schedule pods"},
		{"one reason", 1, map[string]int{fit.ReasonInsufficientCPU: 1}, "0/1 nodes are available: 1 Insufficient cpu."},
		{"the contract's example", 3, map[string]int{fit.ReasonInsufficientMemory: 1, fit.ReasonUnschedulable: 2},
			"0/3 nodes are available: 1 Insufficient memory, 2 node(s) were unschedulable."},
		{"sorted as strings, count first", 14, map[string]int{
			fit.ReasonNotReady: 2, fit.ReasonUnschedulable: 10, fit.ReasonNodeSelector: 2,
		}, "0/14 nodes are available: 10 node(s) were unschedulable, " +
			"2 node(s) didn't match Pod's node affinity/selector, " +
			"2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }."},
		{"a node under several reasons counts in each", 1, map[string]int{
			fit.ReasonTooManyPods: 1, fit.ReasonInsufficientCPU: 1,
		}, "0/1 nodes are available: 1 Insufficient cpu, 1 Too many pods."},
		{"a taint", 4, map[string]int{
			fit.ReasonUntoleratedTaint(scheduler.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: scheduler.TaintEffectNoSchedule}): 1,
			fit.ReasonInsufficientCPU: 3,
		}, "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fit.ErrorMessage(tc.nodes, tc.failures); got != tc.want {
				t.Errorf("ErrorMessage(%d, %v) =\n%q, want\n%q", tc.nodes, tc.failures, got, tc.want)
			}
		})
	}
}

func TestNonZero(t *testing.T) {
	for _, tc := range []struct{ in, want scheduler.Resources }{
		{scheduler.Resources{}, scheduler.Resources{MilliCPU: 100, MemoryBytes: 200 * mi}},
		{scheduler.Resources{MilliCPU: 5}, scheduler.Resources{MilliCPU: 5, MemoryBytes: 200 * mi}},
		{scheduler.Resources{MemoryBytes: mi, Pods: 1}, scheduler.Resources{MilliCPU: 100, MemoryBytes: mi, Pods: 1}},
		{scheduler.Resources{MilliCPU: 1, MemoryBytes: 1}, scheduler.Resources{MilliCPU: 1, MemoryBytes: 1}},
	} {
		if got := fit.NonZero(tc.in); got != tc.want {
			t.Errorf("NonZero(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestReasonUntoleratedTaint(t *testing.T) {
	if got := fit.ReasonUntoleratedTaint(fit.TaintNotReady); got != fit.ReasonNotReady {
		t.Errorf("ReasonUntoleratedTaint(TaintNotReady) = %q, want ReasonNotReady %q", got, fit.ReasonNotReady)
	}
	if got, want := fit.ReasonUntoleratedTaint(scheduler.Taint{Key: "k", Value: "v", Effect: scheduler.TaintEffectNoExecute}),
		"node(s) had untolerated taint {k: v}"; got != want {
		t.Errorf("ReasonUntoleratedTaint = %q, want %q", got, want)
	}
}

// kind's cluster: a tainted control plane and three workers too small for
// the pod; a pod that tolerates the taint goes to the control plane.
func TestFeasibleTaintedControlPlane(t *testing.T) {
	var v fit.View
	cp := &scheduler.Node{Name: "kind-control-plane", Ready: true, Allocatable: scheduler.Resources{MilliCPU: 4000, MemoryBytes: 8 * gi, Pods: 110},
		Taints: []scheduler.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: scheduler.TaintEffectNoSchedule}}}
	changes := []scheduler.Change{{Type: scheduler.Upsert, Node: cp}}
	for _, name := range []string{"kind-worker", "kind-worker2", "kind-worker3"} {
		changes = append(changes, scheduler.Change{Type: scheduler.Upsert, Node: &scheduler.Node{Name: name, Ready: true,
			Allocatable: scheduler.Resources{MilliCPU: 1000, MemoryBytes: 8 * gi, Pods: 110}}})
	}
	if err := v.Apply(changes); err != nil {
		t.Fatal(err)
	}
	p := scheduler.Pod{Namespace: "default", Name: "big", Requests: scheduler.Resources{MilliCPU: 2000}}
	var fits []string
	reason := v.Feasible(p, func(n *scheduler.Node, _ fit.Usage) { fits = append(fits, n.Name) })
	if want := "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient cpu."; reason != want || fits != nil {
		t.Errorf("Feasible = %q (fits %q), want %q", reason, fits, want)
	}
	p.Tolerations = []scheduler.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule}}
	fits = nil
	if reason := v.Feasible(p, func(n *scheduler.Node, _ fit.Usage) { fits = append(fits, n.Name) }); reason != "" || !slices.Equal(fits, []string{"kind-control-plane"}) {
		t.Errorf("with the toleration: Feasible = %q, fits %q, want kind-control-plane", reason, fits)
	}
}

func TestUntoleratedPreferNoSchedule(t *testing.T) {
	n := &scheduler.Node{Name: "n", Taints: []scheduler.Taint{
		{Key: "spot", Value: "true", Effect: scheduler.TaintEffectPreferNoSchedule},
		{Key: "old", Effect: scheduler.TaintEffectPreferNoSchedule},
		{Key: "dedicated", Effect: scheduler.TaintEffectNoSchedule},
	}}
	for _, tc := range []struct {
		name        string
		tolerations []scheduler.Toleration
		want        int
	}{
		{"none tolerated", nil, 2},
		{"one tolerated", []scheduler.Toleration{{Key: "spot", Value: "true"}}, 1},
		{"a NoSchedule toleration does not count", []scheduler.Toleration{{Key: "old", Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule}}, 2},
		{"all tolerated", []scheduler.Toleration{{Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectPreferNoSchedule}}, 0},
	} {
		if got := fit.UntoleratedPreferNoSchedule(n, scheduler.Pod{Name: "p", Tolerations: tc.tolerations}); got != tc.want {
			t.Errorf("%s: UntoleratedPreferNoSchedule = %d, want %d", tc.name, got, tc.want)
		}
	}
}
