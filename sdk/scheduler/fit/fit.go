// Package fit implements the part of a scheduler plugin that the contract
// (package scheduler) fixes and that every plugin would otherwise write
// again: kube-scheduler's bookkeeping of nodes and pods, its filters and
// their reasons, and its "0/N nodes are available: ..." message. What is
// left to a plugin is its own: how it chooses among the nodes a pod fits
// on, and its settings.
//
// # Writing a scheduler with it
//
// Embed a Scheduler, which implements Update and Schedule, and give it a
// pick function; the plugin adds Info and Configure (base.Plugin):
//
//	type Plugin struct {
//		*fit.Scheduler
//	}
//
//	func New() *Plugin { return &Plugin{Scheduler: fit.NewScheduler(pick)} }
//
//	// pick is the plugin's own part: among the nodes p fits on, the one
//	// with the highest score. Feasible visits them in name order, so a
//	// tie goes to the lowest name; when p fits nowhere it returns the
//	// reason for the Decision.
//	func pick(v *fit.View, p scheduler.Pod) (node, reason string) {
//		best := int64(-1)
//		reason = v.Feasible(p, func(n *scheduler.Node, u fit.Usage) {
//			if sc := score(n.Allocatable, u.NonZero, p.Requests); sc > best {
//				node, best = n.Name, sc
//			}
//		})
//		return node, reason
//	}
//
// With that, the plugin passes the conformance suite
// (sdk/scheduler/conformance) whatever its score. pick runs with the view
// locked; a plugin with settings guards them with a mutex of its own (see
// examples/scheduler-spread). A plugin that needs more control keeps a View
// itself, behind its own mutex, and calls View.Apply and View.Schedule (or
// Forget, Feasible and Assume) from its Update and Schedule.
//
// # The pieces
//
// Bookkeeping. View applies the core's Change batches in order: nodes by
// name, pods by namespace and name. A pod counts against the node in its
// NodeName from its upsert until its delete, whether or not that node is
// known (after a restart the core replays nodes and pods in no particular
// order), and a node deleted keeps its pods counted under its name. An
// upsert with NodeName "" (a pending pod) counts nothing and leaves alone
// what Schedule assumed for the pod. Assume counts a pod Schedule placed
// until the core binds it (an upsert with NodeName, which replaces the
// assumption) or deletes it; Forget drops whatever is counted for a pod.
// View.Schedule does all of this for a batch.
//
// Usage. Usage is what the pods counted on a node add up to: their requests
// as requested (Requested, for fit) and with kube-scheduler's scoring
// defaults for what a pod does not request (NonZero: 100m cpu, 200Mi
// memory; see NonZero), and their number.
//
// Filters. Filter answers why a pod does not fit on a node, with
// kube-scheduler's reasons, counting a node under the first filter it fails
// in kube-scheduler's order: unschedulable (cordoned), taints (the node's
// NoSchedule and NoExecute taints, then the not-ready taint of a node that
// is not Ready), node selector, then resources, where every reason that
// applies counts: pod count, cpu, memory. A request of zero never fails.
// Tolerations are matched as Kubernetes does (scheduler.Toleration's
// ToleratesTaint), also against the unschedulable and not-ready taints that
// a node's Unschedulable and Ready stand for. PreferNoSchedule taints never
// filter; UntoleratedPreferNoSchedule counts them for a plugin that wants
// to score them, as kube-scheduler's TaintToleration score does.
//
// Fit error. ErrorMessage is kube-scheduler's FitError text: "0/<nodes>
// nodes are available: " then "<count> <reason>" per reason, sorted as
// strings and joined by ", ", then "."; with no nodes at all,
// "no nodes available to schedule pods". View.Feasible returns it when a pod
// fits nowhere.
//
// These words are what users read in `skiffctl describe pod`: the contract
// and its conformance suite fix them.
package fit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/sdk/scheduler"
)

// Filter reasons, worded as kube-scheduler's. A Decision's Reason counts
// them in ErrorMessage.
const (
	// ReasonUnschedulable: the node is cordoned (spec.unschedulable).
	ReasonUnschedulable = "node(s) were unschedulable"
	// ReasonNotReady: the node is not Ready. Kubernetes puts the not-ready
	// taint on it (TaintNotReady), which the pod does not tolerate.
	ReasonNotReady = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
	// ReasonNodeSelector: the node lacks a label of the pod's nodeSelector.
	ReasonNodeSelector = "node(s) didn't match Pod's node affinity/selector"
	// ReasonTooManyPods: the node already holds Allocatable.Pods pods.
	ReasonTooManyPods = "Too many pods"
	// ReasonInsufficientCPU: the pod requests more cpu than the node has left.
	ReasonInsufficientCPU = "Insufficient cpu"
	// ReasonInsufficientMemory: the pod requests more memory than the node
	// has left.
	ReasonInsufficientMemory = "Insufficient memory"
)

// ReasonUntoleratedTaint is kube-scheduler's TaintToleration reason for a
// node with a NoSchedule or NoExecute taint the pod does not tolerate:
// "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"
// (the key, ": ", then the value, empty here). ReasonNotReady is
// ReasonUntoleratedTaint(TaintNotReady).
func ReasonUntoleratedTaint(t scheduler.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// The taints Kubernetes puts on a node that is cordoned or not ready. In
// skiff's view they are the node's Unschedulable and Ready, not entries of
// its Taints; a pod that tolerates them passes those filters, as in
// kube-scheduler.
var (
	TaintUnschedulable = scheduler.Taint{Key: "node.kubernetes.io/unschedulable", Effect: scheduler.TaintEffectNoSchedule}
	TaintNotReady      = scheduler.Taint{Key: "node.kubernetes.io/not-ready", Effect: scheduler.TaintEffectNoSchedule}
)

// NoNodesAvailable is the Decision's Reason when the scheduler knows no node
// at all (kube-scheduler's ErrNoNodesAvailable).
const NoNodesAvailable = "no nodes available to schedule pods"

// kube-scheduler's requests assumed, for scoring only, of a pod that
// requests no cpu or no memory.
const (
	DefaultMilliCPURequest    int64 = 100
	DefaultMemoryRequestBytes int64 = 200 << 20
)

// NonZero is r with kube-scheduler's scoring defaults in place of a cpu or
// memory request of zero: a pod that requests nothing still weighs on a
// node's score, though never on its fit. skiff's view of a pod is the sum
// over its containers, so the defaults apply to the pod, not to each
// container.
func NonZero(r scheduler.Resources) scheduler.Resources {
	if r.MilliCPU == 0 {
		r.MilliCPU = DefaultMilliCPURequest
	}
	if r.MemoryBytes == 0 {
		r.MemoryBytes = DefaultMemoryRequestBytes
	}
	return r
}

// Usage is what the pods counted on one node (bound or assumed) add up to.
type Usage struct {
	// Requested is the sum of their cpu and memory requests, as requested:
	// what Filter checks. Its Pods is not used (see Pods).
	Requested scheduler.Resources
	// NonZero is the same sum with NonZero applied to each pod: what
	// kube-scheduler's scores use. Its Pods is not used.
	NonZero scheduler.Resources
	// Pods is how many pods count against the node.
	Pods int64
}

// add counts a pod requesting r once more (sign 1) or once less (sign -1).
func (u *Usage) add(r scheduler.Resources, sign int64) {
	nz := NonZero(r)
	u.Requested.MilliCPU += sign * r.MilliCPU
	u.Requested.MemoryBytes += sign * r.MemoryBytes
	u.NonZero.MilliCPU += sign * nz.MilliCPU
	u.NonZero.MemoryBytes += sign * nz.MemoryBytes
	u.Pods += sign
}

// Filter returns why p cannot go to n, on which pods already use u: the
// reasons of the first filter that fails, in kube-scheduler's order, or
// nil when p fits.
//
//  1. ReasonUnschedulable when n is cordoned, unless p tolerates
//     TaintUnschedulable (kube-scheduler's NodeUnschedulable);
//  2. ReasonUntoleratedTaint of the first of n's Taints with effect
//     NoSchedule or NoExecute that p does not tolerate, then
//     ReasonNotReady when n is not Ready, unless p tolerates TaintNotReady
//     (kube-scheduler's TaintToleration; PreferNoSchedule never fails);
//  3. ReasonNodeSelector when a label of p's NodeSelector is missing on n
//     or has another value;
//  4. resources, every one that applies, in this order: ReasonTooManyPods
//     when n has no room for one more pod, ReasonInsufficientCPU and
//     ReasonInsufficientMemory when p requests more than n's Allocatable
//     less u.Requested. A request of zero never fails; exactly what is
//     left fits.
func Filter(n *scheduler.Node, u Usage, p scheduler.Pod) []string {
	if n.Unschedulable && !scheduler.Tolerates(p.Tolerations, TaintUnschedulable) {
		return []string{ReasonUnschedulable}
	}
	if t, ok := untoleratedTaint(n, p.Tolerations); ok {
		return []string{ReasonUntoleratedTaint(t)}
	}
	if !matchesSelector(n.Labels, p.NodeSelector) {
		return []string{ReasonNodeSelector}
	}
	return insufficient(n.Allocatable, u, p.Requests)
}

// untoleratedTaint is kube-scheduler's FindMatchingUntoleratedTaint for
// the NoSchedule and NoExecute taints of n: its Taints in order, then the
// not-ready taint when n is not Ready.
func untoleratedTaint(n *scheduler.Node, tolerations []scheduler.Toleration) (scheduler.Taint, bool) {
	for _, t := range n.Taints {
		if t.Effect != scheduler.TaintEffectNoSchedule && t.Effect != scheduler.TaintEffectNoExecute {
			continue
		}
		if !scheduler.Tolerates(tolerations, t) {
			return t, true
		}
	}
	if !n.Ready && !scheduler.Tolerates(tolerations, TaintNotReady) {
		return TaintNotReady, true
	}
	return scheduler.Taint{}, false
}

// UntoleratedPreferNoSchedule counts the PreferNoSchedule taints of n that
// p does not tolerate: what kube-scheduler's TaintToleration score counts
// (fewer is better). Filter ignores these taints; skiff's schedulers do
// too, a plugin may use this to prefer other nodes.
func UntoleratedPreferNoSchedule(n *scheduler.Node, p scheduler.Pod) int {
	count := 0
	for _, t := range n.Taints {
		if t.Effect == scheduler.TaintEffectPreferNoSchedule && !scheduler.Tolerates(p.Tolerations, t) {
			count++
		}
	}
	return count
}

func matchesSelector(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// insufficient is kube-scheduler's resource fit: pod count first, then
// every resource the pod requests that the node has not enough left of.
func insufficient(alloc scheduler.Resources, u Usage, req scheduler.Resources) []string {
	var reasons []string
	if u.Pods+1 > alloc.Pods {
		reasons = append(reasons, ReasonTooManyPods)
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-u.Requested.MilliCPU {
		reasons = append(reasons, ReasonInsufficientCPU)
	}
	if req.MemoryBytes > 0 && req.MemoryBytes > alloc.MemoryBytes-u.Requested.MemoryBytes {
		reasons = append(reasons, ReasonInsufficientMemory)
	}
	return reasons
}

// ErrorMessage is kube-scheduler's FitError message for a pod that fits on
// none of nodes nodes, where failures counts, per reason, the nodes that
// failed with it (a node counts once under each reason Filter returned for
// it): "0/3 nodes are available: 1 Insufficient memory, 2 node(s) were
// unschedulable.". The entries are sorted as strings, so "10 ..." comes
// before "2 ...". With nodes 0 it is NoNodesAvailable.
func ErrorMessage(nodes int, failures map[string]int) string {
	if nodes == 0 {
		return NoNodesAvailable
	}
	entries := make([]string, 0, len(failures))
	for reason, count := range failures {
		entries = append(entries, fmt.Sprintf("%d %s", count, reason))
	}
	sort.Strings(entries)
	return fmt.Sprintf("0/%d nodes are available: %s.", nodes, strings.Join(entries, ", "))
}
