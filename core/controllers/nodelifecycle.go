package controllers

// Node lifecycle, as kube-controller-manager's node lifecycle controller
// does it, without tainting unreachable nodes or evicting their pods, which
// skiff does not do.
//
// Every agent renews its node's Lease in kube-node-lease every heartbeat
// interval (10 s by default). The API server keeps node leases under an
// etcd lease of the node grace period (40 s by default, Kubernetes'
// node-monitor-grace-period) that every renewal re-arms, so when an agent
// goes silent etcd deletes its Lease, timed on the server, whatever the
// nodes' clocks say. A node whose Lease is gone gets every condition
// Unknown with reason NodeStatusUnknown ("Kubelet stopped posting node
// status."), and every pod bound to it gets its Ready condition False, so
// the Endpoints of Services drop it. Nothing else happens to the pods: they
// keep running on the node, and when the agent is back it renews its Lease,
// writes the node Ready again, and its next sync rewrites each pod's status
// from what the runtime reports (the agent re-adopts its containers by
// label).
//
// A node never seen with a Lease (just registered, or the controller just
// started) gets the grace period from when the controller first saw it.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// nodeLiveness is what the controller remembers of a node between checks.
type nodeLiveness struct {
	// hadLease: the controller has seen the node's Lease, so its absence
	// means etcd expired it (the grace period has passed).
	hadLease bool
	// firstSeen is when the controller first saw the node.
	firstSeen time.Time
	// warned: its Lease's renewal interval was found too long (logged once).
	warned bool
}

// DefaultHeartbeatInterval is how often agents renew their Lease unless
// told otherwise (the kubelet's 10 s).
const DefaultHeartbeatInterval = 10 * time.Second

// DefaultNodeGracePeriod is how long a node may go without renewing its
// Lease before it turns NotReady (Kubernetes' node-monitor-grace-period);
// the API server must give node leases the same TTL.
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

	seen map[string]*nodeLiveness
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
	every(ctx, c.Period, c.check)
}

// every runs fn at once and then every period until ctx ends.
func every(ctx context.Context, period time.Duration, fn func(context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		fn(ctx)
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
		c.warn(ctx, "list nodes", err)
		return
	}
	leases, err := c.leaseHolders(ctx)
	if err != nil {
		c.warn(ctx, "list node leases", err)
		return
	}
	now := c.Now()
	c.forget(nodes)
	for i := range nodes {
		n := &nodes[i]
		live := c.liveness(n.Name, now)
		if lease, ok := leases[n.Name]; ok {
			live.hadLease = true
			c.warnIfRenewedTooRarely(live, &lease)
			continue
		}
		cond := readyOf(n)
		if cond == nil {
			continue // not registered yet
		}
		if cond.Status == corev1.ConditionUnknown {
			c.markPods(ctx, n.Name)
			continue
		}
		if !live.hadLease && now.Sub(live.firstSeen) <= c.GracePeriod {
			continue
		}
		marked, err := c.markNode(ctx, n.Name, now)
		if err != nil {
			c.warn(ctx, "mark node NotReady", err, "node", n.Name)
			continue
		}
		if !marked {
			continue // its Lease came back meanwhile (or the next check sees it Unknown)
		}
		c.Log.Info("node stopped renewing its lease", "node", n.Name, "hadLease", live.hadLease, "grace", c.GracePeriod)
		c.markPods(ctx, n.Name)
	}
}

func (c *NodeLifecycle) warn(ctx context.Context, what string, err error, args ...any) {
	if ctx.Err() == nil {
		c.Log.Warn(what, append(args, "error", err)...)
	}
}

// leaseHolders are the node Leases by node name.
func (c *NodeLifecycle) leaseHolders(ctx context.Context) (map[string]coordinationv1.Lease, error) {
	leases, _, err := client.List[coordinationv1.Lease](ctx, c.Client, api.Leases, api.NodeLeaseNamespace, client.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]coordinationv1.Lease, len(leases))
	for _, l := range leases {
		out[l.Name] = l
	}
	return out, nil
}

// warnIfRenewedTooRarely warns, once per node, when the agent renews its
// Lease (every leaseDurationSeconds/4, as kubelets and skiff agents do) less
// often than twice per grace period: its Lease would expire between
// renewals and the node flap NotReady.
func (c *NodeLifecycle) warnIfRenewedTooRarely(live *nodeLiveness, lease *coordinationv1.Lease) {
	d := lease.Spec.LeaseDurationSeconds
	if live.warned || d == nil {
		return
	}
	if renew := time.Duration(*d) * time.Second / 4; 2*renew > c.GracePeriod {
		live.warned = true
		c.Log.Warn("node renews its lease too rarely for the grace period: give its agent a shorter --heartbeat-interval or the server a longer --node-grace-period",
			"node", lease.Name, "renewEvery", renew, "grace", c.GracePeriod)
	}
}

func (c *NodeLifecycle) liveness(node string, now time.Time) *nodeLiveness {
	if c.seen == nil {
		c.seen = map[string]*nodeLiveness{}
	}
	l := c.seen[node]
	if l == nil {
		l = &nodeLiveness{firstSeen: now}
		c.seen[node] = l
	}
	return l
}

// forget drops what is remembered of deleted nodes.
func (c *NodeLifecycle) forget(nodes []corev1.Node) {
	present := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		present[n.Name] = true
	}
	for name := range c.seen {
		if !present[name] {
			delete(c.seen, name)
		}
	}
}

// markNode sets every condition the agent reports to Unknown, as
// Kubernetes does, unless the node's Lease came back meanwhile. It reports
// whether it changed the node.
func (c *NodeLifecycle) markNode(ctx context.Context, name string, now time.Time) (bool, error) {
	marked := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		marked = false
		var n corev1.Node
		if err := c.Client.Get(ctx, api.Nodes, "", name, &n); err != nil {
			return err
		}
		cond := readyOf(&n)
		if cond == nil || cond.Status == corev1.ConditionUnknown {
			return nil
		}
		var lease coordinationv1.Lease
		err := c.Client.Get(ctx, api.Leases, api.NodeLeaseNamespace, name, &lease)
		if err == nil {
			return nil // the agent is back
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		t := metav1.NewTime(now)
		for i := range n.Status.Conditions {
			nc := &n.Status.Conditions[i]
			if nc.Status == corev1.ConditionUnknown {
				continue
			}
			nc.Status, nc.Reason, nc.Message, nc.LastTransitionTime = corev1.ConditionUnknown, ReasonNodeStatusUnknown, MessageNodeStatusUnknown, t
		}
		marked = true
		return c.Client.Update(ctx, api.Nodes, "", &n, "status")
	})
	return marked, err
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

// ValidateNodeGracePeriod checks a grace period alone (0: the default), for
// a server whose agents' heartbeat interval is theirs to set.
func ValidateNodeGracePeriod(grace time.Duration) error {
	if grace != 0 && grace < MinNodeGracePeriod {
		return fmt.Errorf("--node-grace-period %v: must be at least %v", grace, MinNodeGracePeriod)
	}
	return nil
}

// MinNodeGracePeriod is the shortest grace period: etcd does not keep a
// lease shorter than about 1.5 election timeouts (2 s with its defaults).
const MinNodeGracePeriod = 2 * time.Second

// ValidateNodeTimings checks a grace period against the interval agents
// renew their Lease at (0: the defaults, 40 s and 10 s): a grace period
// shorter than two renewals would let live nodes' Leases expire between
// renewals and flap their nodes NotReady.
func ValidateNodeTimings(grace, heartbeat time.Duration) error {
	if grace == 0 {
		grace = DefaultNodeGracePeriod
	}
	if heartbeat == 0 {
		heartbeat = DefaultHeartbeatInterval
	}
	if err := ValidateNodeGracePeriod(grace); err != nil {
		return err
	}
	switch {
	case heartbeat <= 0:
		return fmt.Errorf("--heartbeat-interval %v: must be positive", heartbeat)
	case 2*heartbeat > grace:
		return fmt.Errorf("--node-grace-period %v must be at least twice --heartbeat-interval %v: agents renew their Lease every heartbeat interval", grace, heartbeat)
	}
	return nil
}
