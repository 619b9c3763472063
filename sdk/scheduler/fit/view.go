package fit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// View is a scheduler's view of the cluster, built from the core's changes:
// the nodes, and the pods that count against each node, bound (the core
// said so) or assumed (Schedule placed them and the core has not confirmed
// yet). Both count the same.
//
// The zero value is an empty view, ready to use. A View is not safe for
// concurrent use: Scheduler keeps one behind a mutex; a plugin that keeps
// its own must guard it.
type View struct {
	nodes map[string]*scheduler.Node
	// sorted holds the names of the nodes in order; nil when it must be
	// rebuilt.
	sorted []string
	pods   map[podKey]placement
	// usage is by node name, whether or not the node is known.
	usage map[string]*Usage
}

type podKey struct{ namespace, name string }

// placement is a pod counted against a node.
type placement struct {
	node     string
	requests scheduler.Resources
}

// Apply implements the bookkeeping of scheduler.Scheduler's Update: it
// applies changes in order. The changes are checked before any is applied,
// so a bad batch (an unknown change type, a change with both or neither of
// Node and Pod, a node or pod without a name) changes nothing and fails
// with an error wrapping base.ErrInvalid that names the change. Deleting an
// unknown object is not an error.
//
//   - A node upsert adds or replaces the node (a copy: the caller may reuse
//     it).
//   - A node delete forgets the node, not its pods: they stay counted under
//     its name until the core deletes them, so a node that comes back is
//     accounted right.
//   - A pod upsert with a NodeName counts the pod against that node,
//     replacing whatever was counted for it (an assumption, or older
//     requests). With NodeName "" the pod is pending: it is not counted,
//     and an assumption made for it stays.
//   - A pod delete forgets the pod, bound or assumed.
func (v *View) Apply(changes []scheduler.Change) error {
	if err := validateAll(changes); err != nil {
		return err
	}
	v.applyAll(changes)
	return nil
}

func validateAll(changes []scheduler.Change) error {
	for i, c := range changes {
		if err := validate(c); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
	}
	return nil
}

func (v *View) applyAll(changes []scheduler.Change) {
	for _, c := range changes {
		v.apply(c)
	}
}

func validate(c scheduler.Change) error {
	switch {
	case c.Type != scheduler.Upsert && c.Type != scheduler.Delete:
		return fmt.Errorf("unknown change type %d: %w", c.Type, base.ErrInvalid)
	case (c.Node == nil) == (c.Pod == nil):
		return fmt.Errorf("exactly one of node and pod must be set: %w", base.ErrInvalid)
	case c.Node != nil && c.Node.Name == "":
		return fmt.Errorf("node without a name: %w", base.ErrInvalid)
	case c.Pod != nil && c.Pod.Name == "":
		return fmt.Errorf("pod without a name in namespace %q: %w", c.Pod.Namespace, base.ErrInvalid)
	}
	return nil
}

func (v *View) apply(c scheduler.Change) {
	switch {
	case c.Node != nil && c.Type == scheduler.Upsert:
		v.upsertNode(c.Node)
	case c.Node != nil:
		v.deleteNode(c.Node.Name)
	case c.Type == scheduler.Upsert:
		if c.Pod.NodeName != "" {
			v.Assume(*c.Pod, c.Pod.NodeName)
		}
	default:
		v.Forget(c.Pod.Namespace, c.Pod.Name)
	}
}

func (v *View) upsertNode(n *scheduler.Node) {
	if v.nodes == nil {
		v.nodes = make(map[string]*scheduler.Node)
	}
	if _, ok := v.nodes[n.Name]; !ok {
		v.sorted = nil
	}
	cp := *n
	cp.Labels = maps.Clone(n.Labels)
	cp.Taints = slices.Clone(n.Taints)
	v.nodes[n.Name] = &cp
}

func (v *View) deleteNode(name string) {
	if _, ok := v.nodes[name]; ok {
		delete(v.nodes, name)
		v.sorted = nil
	}
}

// Assume counts p (its Namespace, Name and Requests) against node,
// replacing whatever was counted for it. Schedule calls it for each pod it
// places, so that the pods placed after it, in the same batch or a later
// one, see it; it stays counted until the core binds p (an upsert with a
// NodeName, which replaces it) or deletes it.
func (v *View) Assume(p scheduler.Pod, node string) {
	key := podKey{p.Namespace, p.Name}
	v.forget(key)
	if v.pods == nil {
		v.pods = make(map[podKey]placement)
	}
	if v.usage == nil {
		v.usage = make(map[string]*Usage)
	}
	v.pods[key] = placement{node: node, requests: p.Requests}
	u := v.usage[node]
	if u == nil {
		u = &Usage{}
		v.usage[node] = u
	}
	u.add(p.Requests, 1)
}

// Forget stops counting the pod namespace/name, bound or assumed, if it was
// counted.
func (v *View) Forget(namespace, name string) {
	v.forget(podKey{namespace, name})
}

func (v *View) forget(key podKey) {
	pl, ok := v.pods[key]
	if !ok {
		return
	}
	delete(v.pods, key)
	u := v.usage[pl.node]
	u.add(pl.requests, -1)
	if u.Pods == 0 {
		delete(v.usage, pl.node)
	}
}

// Usage is what the pods counted against node add up to, whether or not the
// node is known.
func (v *View) Usage(node string) Usage {
	if u := v.usage[node]; u != nil {
		return *u
	}
	return Usage{}
}

// nodeNames returns the names of the known nodes, sorted.
func (v *View) nodeNames() []string {
	if v.sorted == nil {
		v.sorted = make([]string, 0, len(v.nodes))
		for name := range v.nodes {
			v.sorted = append(v.sorted, name)
		}
		sort.Strings(v.sorted)
	}
	return v.sorted
}

// Feasible runs Filter for p on every known node, in name order, and calls
// fits with each node p fits on and that node's usage. fits must not
// modify or keep the node, nor change the view.
//
// It returns "" when p fits on at least one node; otherwise the reason for
// the pod's Decision: ErrorMessage of the nodes' failures, or
// NoNodesAvailable when no node is known.
func (v *View) Feasible(p scheduler.Pod, fits func(n *scheduler.Node, u Usage)) (reason string) {
	names := v.nodeNames()
	failures := make(map[string]int)
	feasible := false
	for _, name := range names {
		n, u := v.nodes[name], v.Usage(name)
		if reasons := Filter(n, u, p); len(reasons) > 0 {
			for _, r := range reasons {
				failures[r]++
			}
			continue
		}
		feasible = true
		fits(n, u)
	}
	if feasible {
		return ""
	}
	return ErrorMessage(len(names), failures)
}

// Schedule implements the batch of scheduler.Scheduler's Schedule with pick
// choosing the node for each pod. pick returns a node name, or "" and the
// reason no node fits (usually what Feasible returned).
//
// A pod without a Name fails the whole batch with an error wrapping
// scheduler.ErrUnknownPod, before anything changes. Then, for each pod in
// order, Schedule stops counting whatever was counted for it (the pod is
// placed afresh and counted once), asks pick, and assumes it on the node
// pick chose (see Assume), so that pods later in the batch see it. It
// stops with ctx's error, wrapped, once ctx is done, and then counts
// nothing for the pods of the batch.
func (v *View) Schedule(ctx context.Context, pods []scheduler.Pod, pick func(p scheduler.Pod) (node, reason string)) ([]scheduler.Decision, error) {
	for i, p := range pods {
		if p.Name == "" {
			return nil, fmt.Errorf("pod %d of the batch (namespace %q) has no name: %w", i, p.Namespace, scheduler.ErrUnknownPod)
		}
	}
	out := make([]scheduler.Decision, 0, len(pods))
	for _, p := range pods {
		if err := ctx.Err(); err != nil {
			// The caller drops the whole answer: what this batch assumed
			// goes too (a pod placed before stays forgotten until the core
			// sends it again, as after any failed call).
			for _, d := range out {
				v.Forget(d.Namespace, d.Name)
			}
			return nil, fmt.Errorf("scheduling pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		v.Forget(p.Namespace, p.Name)
		d := scheduler.Decision{Namespace: p.Namespace, Name: p.Name}
		d.NodeName, d.Reason = pick(p)
		if d.NodeName != "" {
			d.Reason = ""
			v.Assume(p, d.NodeName)
		}
		out = append(out, d)
	}
	return out, nil
}
