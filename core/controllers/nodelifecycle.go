package controllers

// Node lifecycle, as kube-controller-manager's node lifecycle controller
// does it (without taints or evictions, which skiff does not have).
//
// Every agent refreshes its Node's Ready condition (lastHeartbeatTime)
// every heartbeat interval (10s by default). A node whose heartbeat is
// older than the grace period (40s by default, Kubernetes'
// node-monitor-grace-period) gets Ready=Unknown with reason
// NodeStatusUnknown ("Kubelet stopped posting node status."), and every
// pod bound to it gets its Ready condition False, so the Endpoints of
// Services drop it. Nothing else happens to the pods: they keep running on
// the node, and when the agent is back its next heartbeat makes the node
// Ready again and its next sync rewrites each pod's status from what the
// runtime reports (the agent re-adopts its containers by label).
//
// Liveness is the condition's timestamp, written through the API, not an
// etcd lease: one write per node per interval either way, and the
// condition is what `get nodes` shows (docs/decisions.md).

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// DefaultNodeGracePeriod is how long a node may go without a heartbeat
// before it turns NotReady (Kubernetes' node-monitor-grace-period).
const DefaultNodeGracePeriod = 40 * time.Second

// NodeLifecycle marks silent nodes NotReady and their pods not ready.
type NodeLifecycle struct {
	Client *client.Client
	// GracePeriod defaults to DefaultNodeGracePeriod.
	GracePeriod time.Duration
	// Period is how often nodes are checked (default GracePeriod/8, at
	// least 100ms and at most 5s).
	Period time.Duration
	Log    *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Reasons and messages, as Kubernetes writes them.
const (
	ReasonNodeStatusUnknown  = "NodeStatusUnknown"
	MessageNodeStatusUnknown = "Kubelet stopped posting node status."
	ReasonNodeNotReady       = "NodeNotReady"
)

// Run checks the nodes every Period until ctx ends.
func (c *NodeLifecycle) Run(ctx context.Context) {
	if c.GracePeriod <= 0 {
		c.GracePeriod = DefaultNodeGracePeriod
	}
	if c.Period <= 0 {
		c.Period = min(max(c.GracePeriod/8, 100*time.Millisecond), 5*time.Second)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	t := time.NewTicker(c.Period)
	defer t.Stop()
	for {
		c.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func readyOf(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// check marks every silent node once, and the pods of every node already
// marked (a pod bound meanwhile, or a pod the agent reported before it
// went silent, is caught on the next check).
func (c *NodeLifecycle) check(ctx context.Context) {
	nodes, _, err := client.List[corev1.Node](ctx, c.Client, api.Nodes, "", client.ListOptions{})
	if err != nil {
		if ctx.Err() == nil {
			c.Log.Warn("list nodes", "error", err)
		}
		return
	}
	now := c.Now()
	for i := range nodes {
		n := &nodes[i]
		cond := readyOf(n)
		if cond == nil {
			continue // not registered yet
		}
		if cond.Status == corev1.ConditionUnknown {
			c.markPods(ctx, n.Name)
			continue
		}
		if now.Sub(cond.LastHeartbeatTime.Time) <= c.GracePeriod {
			continue
		}
		if err := c.markNode(ctx, n.Name, now); err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("mark node NotReady", "node", n.Name, "error", err)
			}
			continue
		}
		c.Log.Info("node stopped posting status", "node", n.Name, "lastHeartbeat", cond.LastHeartbeatTime.Time, "grace", c.GracePeriod)
		c.markPods(ctx, n.Name)
	}
}

// markNode sets every condition the agent reports to Unknown, as
// Kubernetes does, unless a heartbeat arrived meanwhile.
func (c *NodeLifecycle) markNode(ctx context.Context, name string, now time.Time) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var n corev1.Node
		if err := c.Client.Get(ctx, api.Nodes, "", name, &n); err != nil {
			return err
		}
		cond := readyOf(&n)
		if cond == nil || cond.Status == corev1.ConditionUnknown || now.Sub(cond.LastHeartbeatTime.Time) <= c.GracePeriod {
			return nil
		}
		t := metav1.NewTime(now)
		for i := range n.Status.Conditions {
			nc := &n.Status.Conditions[i]
			if nc.Status == corev1.ConditionUnknown {
				continue
			}
			nc.Status, nc.Reason, nc.Message, nc.LastTransitionTime = corev1.ConditionUnknown, ReasonNodeStatusUnknown, MessageNodeStatusUnknown, t
		}
		return c.Client.Update(ctx, api.Nodes, "", &n, "status")
	})
}

// markPods sets the Ready condition of the node's pods to False.
func (c *NodeLifecycle) markPods(ctx context.Context, node string) {
	pods, _, err := client.List[corev1.Pod](ctx, c.Client, api.Pods, "", client.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		if ctx.Err() == nil {
			c.Log.Warn("list pods of silent node", "node", node, "error", err)
		}
		return
	}
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || !markPodNotReady(p, metav1.NewTime(c.Now())) {
			continue
		}
		if err := c.Client.Update(ctx, api.Pods, p.Namespace, p, "status"); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			c.Log.Warn("mark pod not ready", "pod", p.Namespace+"/"+p.Name, "node", node, "error", err)
		}
		// A conflict is retried on the next check.
	}
}

// markPodNotReady sets the pod's Ready condition False; it reports
// whether anything changed.
func markPodNotReady(p *corev1.Pod, now metav1.Time) bool {
	for i := range p.Status.Conditions {
		pc := &p.Status.Conditions[i]
		if pc.Type != corev1.PodReady {
			continue
		}
		if pc.Status == corev1.ConditionFalse {
			return false
		}
		pc.Status, pc.Reason, pc.Message, pc.LastTransitionTime = corev1.ConditionFalse, ReasonNodeNotReady, "", now
		return true
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: ReasonNodeNotReady, LastTransitionTime: now})
	return true
}
