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
