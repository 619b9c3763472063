package scheduler

import (
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler/schedulerpb"
)

// Conversions between the contract's types and schedulerpb. They are used
// only by the shims: protobuf never leaves this package.

func resourcesToProto(r Resources) *schedulerpb.Resources {
	return &schedulerpb.Resources{MilliCpu: r.MilliCPU, MemoryBytes: r.MemoryBytes, Pods: r.Pods}
}

func resourcesFromProto(r *schedulerpb.Resources) Resources {
	return Resources{MilliCPU: r.GetMilliCpu(), MemoryBytes: r.GetMemoryBytes(), Pods: r.GetPods()}
}

func nodeToProto(n *Node) *schedulerpb.Node {
	return &schedulerpb.Node{
		Name:          n.Name,
		Labels:        n.Labels,
		Allocatable:   resourcesToProto(n.Allocatable),
		Ready:         n.Ready,
		Unschedulable: n.Unschedulable,
		Taints:        taintsToProto(n.Taints),
	}
}

func nodeFromProto(n *schedulerpb.Node) *Node {
	return &Node{
		Name:          n.GetName(),
		Labels:        n.GetLabels(),
		Allocatable:   resourcesFromProto(n.GetAllocatable()),
		Ready:         n.GetReady(),
		Unschedulable: n.GetUnschedulable(),
		Taints:        taintsFromProto(n.GetTaints()),
	}
}

// Empty lists come back nil, as protobuf sends nothing for them.

func taintsToProto(ts []Taint) []*schedulerpb.Taint {
	if len(ts) == 0 {
		return nil
	}
	out := make([]*schedulerpb.Taint, 0, len(ts))
	for _, t := range ts {
		out = append(out, &schedulerpb.Taint{Key: t.Key, Value: t.Value, Effect: string(t.Effect)})
	}
	return out
}

func taintsFromProto(ts []*schedulerpb.Taint) []Taint {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Taint, 0, len(ts))
	for _, t := range ts {
		out = append(out, Taint{Key: t.GetKey(), Value: t.GetValue(), Effect: TaintEffect(t.GetEffect())})
	}
	return out
}

func tolerationsToProto(ts []Toleration) []*schedulerpb.Toleration {
	if len(ts) == 0 {
		return nil
	}
	out := make([]*schedulerpb.Toleration, 0, len(ts))
	for _, t := range ts {
		out = append(out, &schedulerpb.Toleration{Key: t.Key, Operator: string(t.Operator), Value: t.Value, Effect: string(t.Effect)})
	}
	return out
}

func tolerationsFromProto(ts []*schedulerpb.Toleration) []Toleration {
	if len(ts) == 0 {
		return nil
	}
	out := make([]Toleration, 0, len(ts))
	for _, t := range ts {
		out = append(out, Toleration{Key: t.GetKey(), Operator: TolerationOperator(t.GetOperator()),
			Value: t.GetValue(), Effect: TaintEffect(t.GetEffect())})
	}
	return out
}

func podToProto(p *Pod) *schedulerpb.Pod {
	return &schedulerpb.Pod{
		Namespace:    p.Namespace,
		Name:         p.Name,
		Uid:          p.UID,
		NodeName:     p.NodeName,
		Requests:     resourcesToProto(p.Requests),
		NodeSelector: p.NodeSelector,
		Tolerations:  tolerationsToProto(p.Tolerations),
	}
}

func podFromProto(p *schedulerpb.Pod) *Pod {
	return &Pod{
		Namespace:    p.GetNamespace(),
		Name:         p.GetName(),
		UID:          p.GetUid(),
		NodeName:     p.GetNodeName(),
		Requests:     resourcesFromProto(p.GetRequests()),
		NodeSelector: p.GetNodeSelector(),
		Tolerations:  tolerationsFromProto(p.GetTolerations()),
	}
}

func changeToProto(c Change) (*schedulerpb.Change, error) {
	out := &schedulerpb.Change{}
	switch c.Type {
	case Upsert:
		out.Type = schedulerpb.ChangeType_CHANGE_TYPE_UPSERT
	case Delete:
		out.Type = schedulerpb.ChangeType_CHANGE_TYPE_DELETE
	default:
		return nil, fmt.Errorf("unknown change type %d: %w", c.Type, base.ErrInvalid)
	}
	switch {
	case c.Node != nil && c.Pod != nil:
		return nil, fmt.Errorf("both Node and Pod are set: %w", base.ErrInvalid)
	case c.Node != nil:
		out.Object = &schedulerpb.Change_Node{Node: nodeToProto(c.Node)}
	case c.Pod != nil:
		out.Object = &schedulerpb.Change_Pod{Pod: podToProto(c.Pod)}
	default:
		return nil, fmt.Errorf("neither Node nor Pod is set: %w", base.ErrInvalid)
	}
	return out, nil
}

func changeFromProto(c *schedulerpb.Change) (Change, error) {
	var out Change
	switch c.GetType() {
	case schedulerpb.ChangeType_CHANGE_TYPE_UPSERT:
		out.Type = Upsert
	case schedulerpb.ChangeType_CHANGE_TYPE_DELETE:
		out.Type = Delete
	default:
		return Change{}, fmt.Errorf("change type %v: %w", c.GetType(), base.ErrInvalid)
	}
	switch o := c.GetObject().(type) {
	case *schedulerpb.Change_Node:
		out.Node = nodeFromProto(o.Node)
	case *schedulerpb.Change_Pod:
		out.Pod = podFromProto(o.Pod)
	default:
		return Change{}, fmt.Errorf("change has no node or pod: %w", base.ErrInvalid)
	}
	return out, nil
}

func changesToProto(changes []Change) ([]*schedulerpb.Change, error) {
	out := make([]*schedulerpb.Change, 0, len(changes))
	for i, c := range changes {
		pc, err := changeToProto(c)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		out = append(out, pc)
	}
	return out, nil
}

func changesFromProto(changes []*schedulerpb.Change) ([]Change, error) {
	out := make([]Change, 0, len(changes))
	for i, pc := range changes {
		c, err := changeFromProto(pc)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func podsToProto(pods []Pod) []*schedulerpb.Pod {
	out := make([]*schedulerpb.Pod, 0, len(pods))
	for i := range pods {
		out = append(out, podToProto(&pods[i]))
	}
	return out
}

func podsFromProto(pods []*schedulerpb.Pod) []Pod {
	out := make([]Pod, 0, len(pods))
	for _, p := range pods {
		out = append(out, *podFromProto(p))
	}
	return out
}

func decisionsToProto(ds []Decision) []*schedulerpb.Decision {
	out := make([]*schedulerpb.Decision, 0, len(ds))
	for _, d := range ds {
		out = append(out, &schedulerpb.Decision{Namespace: d.Namespace, Name: d.Name, NodeName: d.NodeName, Reason: d.Reason})
	}
	return out
}

func decisionsFromProto(ds []*schedulerpb.Decision) []Decision {
	out := make([]Decision, 0, len(ds))
	for _, d := range ds {
		out = append(out, Decision{Namespace: d.GetNamespace(), Name: d.GetName(), NodeName: d.GetNodeName(), Reason: d.GetReason()})
	}
	return out
}
