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
//   - Unschedulable: "node(s) were unschedulable";
//   - not Ready: "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
//     (Kubernetes taints a node that is not ready; "node(s) were not
//     ready" is the wording of old kube-scheduler releases);
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
	// particular order), until it is deleted. An upsert of a pod with
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
