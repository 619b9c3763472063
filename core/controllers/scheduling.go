package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

// Scheduling feeds the scheduler plugin incremental node and pod changes and
// binds pending pods to the nodes it picks.
//
// The plugin's view is built only from Update calls: every node and bound pod
// once when the plugin (re)starts, then each change as the watches see it.
// Pending pods are collected and scheduled in batches; pods that fit nowhere
// get PodScheduled=False with the plugin's reason and a FailedScheduling
// event, and are retried when nodes or pods change, or every retryInterval.
type Scheduling struct {
	Client    *client.Client
	Scheduler func() (scheduler.Scheduler, error)
	Recorder  *events.Recorder
	Log       *slog.Logger

	mu      sync.Mutex
	nodes   map[string]*corev1.Node
	pods    map[types.UID]*corev1.Pod
	pending map[types.UID]bool
	// lastReason avoids rewriting an unchanged Unschedulable condition.
	lastReason map[types.UID]string
	// outbox holds changes not yet sent to the plugin, in order.
	outbox []scheduler.Change
	wake   chan struct{}
	once   sync.Once
	replay bool
}

const (
	bindConcurrency = 16
	batchSize       = 256
	retryInterval   = 5 * time.Second
)

// Run runs until ctx ends, and returns once its watches have stopped. It
// may run again (a server that leads again): each run starts from a fresh
// view and sends the plugin all of it.
func (s *Scheduling) Run(ctx context.Context) {
	s.init()
	s.mu.Lock()
	s.nodes = map[string]*corev1.Node{}
	s.pods = map[types.UID]*corev1.Pod{}
	s.pending = map[types.UID]bool{}
	s.lastReason = map[types.UID]string{}
	s.outbox = nil
	s.replay = true
	s.mu.Unlock()
	var watches sync.WaitGroup
	defer watches.Wait()
	for _, watch := range []func(){
		func() { watchLoop(ctx, s.Client, api.Nodes, s.Log, s.onNode) },
		func() { watchLoop(ctx, s.Client, api.Pods, s.Log, s.onPod) },
	} {
		watches.Add(1)
		go func() { defer watches.Done(); watch() }()
	}
	t := time.NewTicker(retryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
			s.mu.Lock()
			for uid, p := range s.pods {
				if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
					s.pending[uid] = true
				}
			}
			s.mu.Unlock()
		}
		s.scheduleOnce(ctx)
	}
}

// Replay makes the next pass send the whole view to the plugin again, as
// after a restart of the plugin process.
func (s *Scheduling) Replay(context.Context) {
	s.mu.Lock()
	s.replay = true
	s.mu.Unlock()
	s.poke()
}

// init makes the wake channel once: Replay may poke before or between
// runs.
func (s *Scheduling) init() {
	s.once.Do(func() { s.wake = make(chan struct{}, 1) })
}

func (s *Scheduling) poke() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduling) onNode(typ string, n *corev1.Node) {
	s.mu.Lock()
	if typ == "DELETED" {
		delete(s.nodes, n.Name)
	} else {
		s.nodes[n.Name] = n
	}
	s.mu.Unlock()
	s.queueChange(scheduler.Change{Type: changeType(typ), Node: toSchedNode(n)})
	s.requeueAll()
}

func (s *Scheduling) onPod(typ string, p *corev1.Pod) {
	s.mu.Lock()
	if typ == "DELETED" {
		delete(s.pods, p.UID)
		delete(s.pending, p.UID)
		delete(s.lastReason, p.UID)
	} else {
		s.pods[p.UID] = p
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			s.pending[p.UID] = true
		} else {
			delete(s.pending, p.UID)
		}
	}
	s.mu.Unlock()
	switch {
	case typ == "DELETED" || (p.Spec.NodeName != "" && podFinished(p)):
		// A finished pod holds nothing on its node any more: kube-scheduler
		// drops it from its cache, and pending pods may fit now.
		s.queueChange(scheduler.Change{Type: scheduler.Delete, Pod: toSchedPod(p)})
		s.requeueAll()
	case p.Spec.NodeName != "":
		s.queueChange(scheduler.Change{Type: changeType(typ), Pod: toSchedPod(p)})
	}
	s.poke()
}

// podFinished: the pod ran to its end (Succeeded or Failed) and its
// containers will not run again.
func podFinished(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (s *Scheduling) requeueAll() {
	s.mu.Lock()
	for uid, p := range s.pods {
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			s.pending[uid] = true
		}
	}
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduling) queueChange(c scheduler.Change) {
	s.mu.Lock()
	s.outbox = append(s.outbox, c)
	s.mu.Unlock()
}

func changeType(typ string) scheduler.ChangeType {
	if typ == "DELETED" {
		return scheduler.Delete
	}
	return scheduler.Upsert
}

func toSchedNode(n *corev1.Node) *scheduler.Node {
	return &scheduler.Node{
		Name:          n.Name,
		Labels:        n.Labels,
		Allocatable:   NodeAllocatable(n.Status.Allocatable),
		Ready:         NodeReady(n),
		Unschedulable: n.Spec.Unschedulable,
		Taints:        toSchedTaints(n.Spec.Taints),
	}
}

// toSchedTaints converts a node's taints (validated by the registry:
// NoSchedule, PreferNoSchedule or NoExecute), in order.
func toSchedTaints(ts []corev1.Taint) []scheduler.Taint {
	if len(ts) == 0 {
		return nil
	}
	out := make([]scheduler.Taint, 0, len(ts))
	for _, t := range ts {
		out = append(out, scheduler.Taint{Key: t.Key, Value: t.Value, Effect: scheduler.TaintEffect(t.Effect)})
	}
	return out
}

// toSchedTolerations converts a pod's tolerations; tolerationSeconds is
// about eviction, which skiff does not do, and is dropped.
func toSchedTolerations(ts []corev1.Toleration) []scheduler.Toleration {
	if len(ts) == 0 {
		return nil
	}
	out := make([]scheduler.Toleration, 0, len(ts))
	for _, t := range ts {
		out = append(out, scheduler.Toleration{Key: t.Key, Operator: scheduler.TolerationOperator(t.Operator),
			Value: t.Value, Effect: scheduler.TaintEffect(t.Effect)})
	}
	return out
}

func toSchedPod(p *corev1.Pod) *scheduler.Pod {
	return &scheduler.Pod{
		Namespace:    p.Namespace,
		Name:         p.Name,
		UID:          string(p.UID),
		NodeName:     p.Spec.NodeName,
		Requests:     PodRequests(&p.Spec),
		NodeSelector: p.Spec.NodeSelector,
		Tolerations:  toSchedTolerations(p.Spec.Tolerations),
	}
}

// scheduleOnce flushes changes to the plugin and schedules what is pending.
func (s *Scheduling) scheduleOnce(ctx context.Context) {
	sched, err := s.Scheduler()
	if err != nil {
		s.Log.Debug("scheduler plugin unavailable", "error", err)
		return
	}
	changes, batch := s.takeWork()
	if len(changes) > 0 {
		if err := sched.Update(ctx, changes); err != nil {
			s.Log.Warn("scheduler update failed; will replay", "error", err)
			s.Replay(ctx)
			return
		}
	}
	for len(batch) > 0 {
		n := min(len(batch), batchSize)
		s.scheduleBatch(ctx, sched, batch[:n])
		batch = batch[n:]
	}
}

// takeWork returns the changes to send (the whole view after a replay) and
// the pending pods.
func (s *Scheduling) takeWork() ([]scheduler.Change, []*corev1.Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var changes []scheduler.Change
	if s.replay {
		s.replay = false
		for _, n := range s.nodes {
			changes = append(changes, scheduler.Change{Type: scheduler.Upsert, Node: toSchedNode(n)})
		}
		for _, p := range s.pods {
			if p.Spec.NodeName != "" && !podFinished(p) {
				changes = append(changes, scheduler.Change{Type: scheduler.Upsert, Pod: toSchedPod(p)})
			}
		}
		s.outbox = nil
	} else {
		changes, s.outbox = s.outbox, nil
	}
	var batch []*corev1.Pod
	for uid := range s.pending {
		if p, ok := s.pods[uid]; ok {
			batch = append(batch, p)
		}
	}
	s.pending = map[types.UID]bool{}
	return changes, batch
}

func (s *Scheduling) scheduleBatch(ctx context.Context, sched scheduler.Scheduler, pods []*corev1.Pod) {
	in := make([]scheduler.Pod, len(pods))
	for i, p := range pods {
		in[i] = *toSchedPod(p)
	}
	decisions, err := sched.Schedule(ctx, in)
	if err != nil || len(decisions) != len(pods) {
		s.Log.Warn("schedule failed", "error", err, "pods", len(pods), "decisions", len(decisions))
		return
	}
	// Each decision is its own API write; send them concurrently.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(bindConcurrency)
	for i, d := range decisions {
		g.Go(func() error {
			if d.NodeName != "" {
				s.bind(gctx, pods[i], d.NodeName)
			} else {
				s.markUnschedulable(gctx, pods[i], d.Reason)
			}
			return nil
		})
	}
	_ = g.Wait()
}

func (s *Scheduling) bind(ctx context.Context, pod *corev1.Pod, node string) {
	if reason := s.admit(pod, node); reason != "" {
		// The plugin is third-party code: like the kubelet's admission, the
		// core does not run a pod where it cannot go, whatever the plugin
		// said. The pod stays pending and is tried again.
		s.Log.Warn("scheduler plugin chose a node the pod does not fit on", "pod", pod.Namespace+"/"+pod.Name, "node", node, "reason", reason)
		s.queueChange(scheduler.Change{Type: scheduler.Delete, Pod: toSchedPod(pod)})
		s.markUnschedulable(ctx, pod, reason)
		s.requeue(pod.UID)
		return
	}
	b := pod.DeepCopy()
	b.Spec.NodeName = node
	setCondition(&b.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
	if err := s.Client.Update(ctx, api.Pods, pod.Namespace, b, "binding"); err != nil {
		if !apierrors.IsNotFound(err) {
			s.Log.Warn("bind failed", "pod", pod.Namespace+"/"+pod.Name, "node", node, "error", err)
			s.requeue(pod.UID)
		}
		// The plugin assumed the pod on node; undo that.
		s.queueChange(scheduler.Change{Type: scheduler.Delete, Pod: toSchedPod(pod)})
		return
	}
	if s.Recorder != nil {
		_ = s.Recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
	}
}

// admit re-checks a plugin's decision against what no scheduler may
// override: the node exists, is not cordoned, its NoSchedule and NoExecute
// taints (and the not-ready taint) are tolerated, the pod's nodeSelector
// matches, and the pod's requests fit the node's allocatable at all. It
// returns why not, worded for `describe pod`, or "". Usage by other pods is
// the plugin's to weigh: the core does not track assumed pods.
func (s *Scheduling) admit(pod *corev1.Pod, node string) string {
	s.mu.Lock()
	n, ok := s.nodes[node]
	s.mu.Unlock()
	if !ok {
		return fmt.Sprintf("the scheduler plugin chose node %q, which does not exist", node)
	}
	if reasons := fit.Filter(toSchedNode(n), fit.Usage{}, *toSchedPod(pod)); len(reasons) > 0 {
		return fmt.Sprintf("the scheduler plugin chose node %q, which the pod does not fit: %s", node, strings.Join(reasons, ", "))
	}
	return ""
}

func (s *Scheduling) requeue(uid types.UID) {
	s.mu.Lock()
	s.pending[uid] = true
	s.mu.Unlock()
}

func (s *Scheduling) markUnschedulable(ctx context.Context, pod *corev1.Pod, reason string) {
	s.mu.Lock()
	same := s.lastReason[pod.UID] == reason
	s.lastReason[pod.UID] = reason
	s.mu.Unlock()
	if same {
		return
	}
	p := pod.DeepCopy()
	setCondition(&p.Status, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: reason, LastTransitionTime: metav1.Now(),
	})
	if err := s.Client.Update(ctx, api.Pods, p.Namespace, p, "status"); err != nil && !apierrors.IsNotFound(err) {
		s.Log.Warn("mark unschedulable failed", "pod", pod.Namespace+"/"+pod.Name, "error", err)
	}
	if s.Recorder != nil {
		_ = s.Recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "FailedScheduling", "%s", reason)
	}
}

// setCondition replaces the condition of the same type, keeping its
// transition time if the status did not change.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}

// watchLoop lists and watches a resource forever, re-listing after errors,
// and calls fn for each event with the decoded object.
func watchLoop[T any, PT interface{ *T }](ctx context.Context, c *client.Client, res api.Resource, log *slog.Logger, fn func(string, PT)) {
	for ctx.Err() == nil {
		events, errc, err := c.Watch(ctx, res, "", client.ListOptions{}, 0)
		if err == nil {
			for ev := range events {
				obj := PT(new(T))
				if err := json.Unmarshal(ev.Object, obj); err != nil {
					log.Warn("decode watch event", "resource", res.Name, "error", err)
					continue
				}
				fn(ev.Type, obj)
			}
			err = <-errc
		}
		if ctx.Err() != nil {
			return
		}
		log.Warn("watch ended; re-listing", "resource", res.Name, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
