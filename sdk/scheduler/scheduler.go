// Package scheduler is the contract of a skiff scheduler plugin
// (skiff.scheduler.v1).
//
// The core owns the truth about nodes and pods; the scheduler keeps its own
// view of them, built only from the incremental changes the core sends
// through Update. The core never sends a full snapshot per call: after the
// plugin starts (or restarts), it replays every node and every bound pod once
// as ordinary upserts, then only what changes.
//
// Schedule takes a batch of pending pods and answers, for each, either a
// node or the reason no node fits. It must not wait on anything but its own
// view: the core binds the pods and later sends them back as upserts with
// NodeName set.
//
// # Revisions of skiff.scheduler.v1
//
// Compatible additions are made to v1 (new fields); a core and a plugin
// built from different revisions still talk.
//
//   - r1: Update and Schedule; nodes with labels, allocatable, Ready and
//     Unschedulable; pods with requests and a node selector.
//   - r2: Node.Taints and Pod.Tolerations. A plugin of r1 ignores them (it
//     places pods on tainted nodes, as skiff did before taints); a core of
//     r1 sends none, so an r2 plugin sees no taint and no toleration.
package scheduler

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/skiffhq/skiff/sdk/base"
)

// APIVersion is the newest version of this contract the SDK speaks.
const APIVersion = 1

// Resources are amounts of schedulable resources.
type Resources struct {
	// MilliCPU is CPU in thousandths of a core (Kubernetes "100m" = 100).
	MilliCPU int64
	// MemoryBytes is memory in bytes.
	MemoryBytes int64
	// Pods is a count of pods (used for a node's pod capacity). A node
	// whose Allocatable.Pods is 0 takes no pod, as in Kubernetes (where the
	// kubelet reports 110 by default): the core must fill it in.
	Pods int64
}

// Node is the scheduler's view of one node.
type Node struct {
	Name   string
	Labels map[string]string
	// Allocatable is what pods may use on the node in total.
	Allocatable Resources
	// Ready is false while the node is not ready; no pod may go there.
	Ready bool
	// Unschedulable is the node's spec.unschedulable (cordoned).
	Unschedulable bool
	// Taints are the node's spec.taints, in order. Ready and Unschedulable
	// stand for the taints Kubernetes would add for them
	// (node.kubernetes.io/not-ready and node.kubernetes.io/unschedulable,
	// both NoSchedule), which are not in Taints. (Added in a later
	// revision of v1: an older core sends none.)
	Taints []Taint
}

// TaintEffect is what a taint does to the pods that do not tolerate it.
type TaintEffect string

const (
	// TaintEffectNoSchedule: no new pod goes to the node unless it
	// tolerates the taint.
	TaintEffectNoSchedule TaintEffect = "NoSchedule"
	// TaintEffectPreferNoSchedule: the scheduler should avoid the node for
	// pods that do not tolerate the taint; it never filters.
	TaintEffectPreferNoSchedule TaintEffect = "PreferNoSchedule"
	// TaintEffectNoExecute: NoSchedule, and in Kubernetes running pods
	// that do not tolerate it are evicted (skiff does not evict). For
	// scheduling it is the same as NoSchedule.
	TaintEffectNoExecute TaintEffect = "NoExecute"
)

// Taint is one of a node's taints (Kubernetes' core/v1 Taint).
type Taint struct {
	Key    string
	Value  string
	Effect TaintEffect
}

// TolerationOperator says how a toleration matches a taint's value.
type TolerationOperator string

const (
	// TolerationOpEqual matches a taint with the same value ("" is Equal).
	TolerationOpEqual TolerationOperator = "Equal"
	// TolerationOpExists matches a taint of any value.
	TolerationOpExists TolerationOperator = "Exists"
)

// Toleration is one of a pod's tolerations (Kubernetes' core/v1
// Toleration, without tolerationSeconds, which is about eviction).
type Toleration struct {
	// Key is the taint key matched; "" (with Exists) matches every key.
	Key string
	// Operator is Equal (also when "") or Exists.
	Operator TolerationOperator
	// Value is matched with Equal; it is "" with Exists.
	Value string
	// Effect is the taint effect matched; "" matches every effect.
	Effect TaintEffect
}

// ToleratesTaint reports whether t tolerates taint, as Kubernetes matches
// them: t's Effect, when set, must be the taint's; t's Key, when set, must
// be the taint's; then Exists matches any value and Equal (or no operator)
// the same value. Any other operator matches nothing.
func (t Toleration) ToleratesTaint(taint Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case "", TolerationOpEqual:
		return t.Value == taint.Value
	case TolerationOpExists:
		return true
	default:
		return false
	}
}

// Tolerates reports whether any of tolerations tolerates taint.
func Tolerates(tolerations []Toleration, taint Taint) bool {
	for _, t := range tolerations {
		if t.ToleratesTaint(taint) {
			return true
		}
	}
	return false
}

// Pod is the scheduler's view of one pod.
type Pod struct {
	Namespace string
	Name      string
	UID       string
	// NodeName is "" for a pending pod, the node for a bound one.
	NodeName string
	// Requests is the sum of the pod's container requests (with init
	// containers counted as Kubernetes does: max of the largest init
	// container and the sum of app containers).
	Requests     Resources
	NodeSelector map[string]string
	// Tolerations are the pod's spec.tolerations. (Added in a later
	// revision of v1: an older core sends none.)
	Tolerations []Toleration
}

// ChangeType says what happened to an object.
type ChangeType int

const (
	// Upsert adds the object or replaces the one with the same key.
	Upsert ChangeType = iota
	// Delete removes the object with the same key (nodes by Name, pods by
	// Namespace/Name).
	Delete
)

// Change is one incremental update. Exactly one of Node and Pod is set.
type Change struct {
	Type ChangeType
	Node *Node
	Pod  *Pod
}

// Decision is the answer for one pod. NodeName is set when the pod fits
// somewhere; otherwise Reason says why not, in Kubernetes' words:
// "0/3 nodes are available: 1 Insufficient memory, 2 node(s) were unschedulable."
//
// Reason is kube-scheduler's FitError message: "0/<nodes> nodes are
// available: " then, for each reason, "<count> <reason>", the entries sorted
// as strings (so "10 ..." sorts before "2 ..."), joined by ", ", and a
// final ".". Each node counts under the first filter it fails, in
// kube-scheduler's order, with the reasons this contract can express:
//
//   - Unschedulable: "node(s) were unschedulable", unless the pod
//     tolerates the taint node.kubernetes.io/unschedulable:NoSchedule;
//   - taints: "node(s) had untolerated taint {<key>: <value>}" for the
//     first of the node's Taints with effect NoSchedule or NoExecute that
//     none of the pod's Tolerations tolerates (ToleratesTaint), then, for a
//     node that is not Ready, "node(s) had untolerated taint
//     {node.kubernetes.io/not-ready: }" unless the pod tolerates
//     node.kubernetes.io/not-ready:NoSchedule (Kubernetes taints a node
//     that is not ready; "node(s) were not ready" is the wording of old
//     kube-scheduler releases). PreferNoSchedule taints never filter: a
//     scheduler may prefer other nodes for a pod that does not tolerate
//     them, or ignore them;
//   - NodeSelector: "node(s) didn't match Pod's node affinity/selector";
//   - resources, every one that applies: "Too many pods", "Insufficient
//     cpu", "Insufficient memory". A request of zero never fails.
//
// With no nodes at all, Reason is "no nodes available to schedule pods".
// The conformance suite checks these words.
type Decision struct {
	Namespace string
	Name      string
	NodeName  string
	Reason    string
}

// Scheduler is implemented by a scheduler plugin.
type Scheduler interface {
	base.Plugin

	// Update applies changes in order. Deleting an unknown object is not
	// an error.
	//
	// A pod counts against the node in its NodeName, whether or not that
	// node is known yet (after a restart nodes and pods are replayed in no
	// particular order), until it is deleted (the core deletes a pod from
	// the plugin's view also when it has finished, Succeeded or Failed,
	// as kube-scheduler stops counting it). An upsert of a pod with
	// NodeName "" is a pending pod: it is not counted, and does not drop an
	// assumption Schedule made for it. Deleting a node does not delete its
	// pods.
	Update(ctx context.Context, changes []Change) error

	// Schedule places a batch of pending pods, in order. A pod placed
	// earlier in the batch counts against its node for the later ones
	// (the plugin "assumes" it until the core's upsert confirms or a
	// delete removes it). The result has one Decision per input pod, in
	// the same order. A pod the plugin already counts (assumed, or bound)
	// is placed afresh and counted once. A pod without a Name fails the
	// whole call with ErrUnknownPod.
	Schedule(ctx context.Context, pods []Pod) ([]Decision, error)
}

// ErrUnknownPod is returned for a pod that Schedule was asked about but that
// the plugin cannot interpret (for instance a pod without a name).
var ErrUnknownPod = base.NewError("scheduler.UnknownPod", codes.InvalidArgument, "unknown pod")
