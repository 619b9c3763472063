package controllers

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fake"
)

func readyNode(name, cpu, mem string) *corev1.Node {
	alloc := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110"),
	}
	return &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
}

func podRequesting(name, cpu, mem string) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i:1", Resources: corev1.ResourceRequirements{Requests: req}}}},
	}
}

// swappable stands in for the plugin host: the test can "restart" the
// plugin by replacing its instance.
type swappable struct {
	mu   sync.Mutex
	impl scheduler.Scheduler
}

func (s *swappable) get() (scheduler.Scheduler, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.impl.Configure(context.Background(), base.Config{}); err != nil {
		return nil, err
	}
	return s.impl, nil
}

func waitPod(t *testing.T, srv *testapi.Server, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := srv.Admin.Get(context.Background(), api.Pods, "default", name, &p); err == nil && cond(&p) {
			return &p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pod %s never reached the expected state; last: spec.nodeName=%q conditions=%+v", name, p.Spec.NodeName, p.Status.Conditions)
	return nil
}

func scheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func TestSchedulingBindsUnschedulesAndReplaysAfterRestart(t *testing.T) {
	srv := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plugin := &swappable{impl: binpack.New()}
	s := &Scheduling{Client: srv.Admin, Scheduler: plugin.get, Recorder: events.NewRecorder(srv.Admin, "default-scheduler", ""), Log: slog.Default()}
	go s.Run(ctx)

	if err := srv.Admin.Create(ctx, api.Nodes, "", readyNode("n1", "2", "4Gi")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("small", "1", "1Gi")); err != nil {
		t.Fatal(err)
	}
	bound := waitPod(t, srv, "small", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if bound.Spec.NodeName != "n1" || scheduledCondition(bound) == nil || scheduledCondition(bound).Status != corev1.ConditionTrue {
		t.Errorf("bound pod: node %q, condition %+v", bound.Spec.NodeName, scheduledCondition(bound))
	}

	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("huge", "", "100Gi")); err != nil {
		t.Fatal(err)
	}
	huge := waitPod(t, srv, "huge", func(p *corev1.Pod) bool { return scheduledCondition(p) != nil })
	c := scheduledCondition(huge)
	if c.Status != corev1.ConditionFalse || c.Reason != "Unschedulable" || c.Message != "0/1 nodes are available: 1 Insufficient memory." || huge.Spec.NodeName != "" {
		t.Errorf("unschedulable pod: node %q condition %+v", huge.Spec.NodeName, c)
	}

	// "Restart" the plugin: a fresh instance knows nothing until the replay.
	plugin.mu.Lock()
	plugin.impl = binpack.New()
	plugin.mu.Unlock()
	s.Replay(ctx)
	// 1.5 CPU fits an empty 2-CPU node but not one already running "small":
	// only a replay that included the bound pod keeps it off n1.
	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("medium", "1500m", "")); err != nil {
		t.Fatal(err)
	}
	medium := waitPod(t, srv, "medium", func(p *corev1.Pod) bool { return scheduledCondition(p) != nil })
	if medium.Spec.NodeName != "" || !strings.Contains(scheduledCondition(medium).Message, "Insufficient cpu") {
		t.Errorf("after the plugin restart the replayed view lost the bound pod: medium went to %q (%+v)", medium.Spec.NodeName, scheduledCondition(medium))
	}
}

// kind's cluster: the control plane is tainted NoSchedule. A pod without a
// toleration avoids it, even when only it has room; one that tolerates the
// taint (operator Exists on its key) may go there, and so may a pending pod
// once a toleration is added to it.
func TestSchedulingRespectsTaints(t *testing.T) {
	srv := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plugin := &swappable{impl: binpack.New()}
	s := &Scheduling{Client: srv.Admin, Scheduler: plugin.get, Recorder: events.NewRecorder(srv.Admin, "default-scheduler", ""), Log: slog.Default()}
	go s.Run(ctx)

	const key = "node-role.kubernetes.io/control-plane"
	cp := readyNode("kind-control-plane", "8", "16Gi")
	cp.Spec.Taints = []corev1.Taint{{Key: key, Effect: corev1.TaintEffectNoSchedule}}
	for _, n := range []*corev1.Node{cp, readyNode("kind-worker", "1", "16Gi")} {
		if err := srv.Admin.Create(ctx, api.Nodes, "", n); err != nil {
			t.Fatal(err)
		}
	}
	tolerating := func(p *corev1.Pod) *corev1.Pod {
		p.Spec.Tolerations = []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		return p
	}
	for _, p := range []*corev1.Pod{podRequesting("small", "100m", ""), podRequesting("big", "2", ""), tolerating(podRequesting("tolerant", "2", ""))} {
		if err := srv.Admin.Create(ctx, api.Pods, "default", p); err != nil {
			t.Fatal(err)
		}
	}
	if small := waitPod(t, srv, "small", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); small.Spec.NodeName != "kind-worker" {
		t.Errorf("a pod without a toleration went to %q, want kind-worker", small.Spec.NodeName)
	}
	big := waitPod(t, srv, "big", func(p *corev1.Pod) bool { return scheduledCondition(p) != nil })
	const want = "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }."
	if c := scheduledCondition(big); big.Spec.NodeName != "" || c.Status != corev1.ConditionFalse || c.Message != want {
		t.Errorf("a pod that fits only on the tainted node: node %q, condition %+v, want the message %q", big.Spec.NodeName, c, want)
	}
	if p := waitPod(t, srv, "tolerant", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); p.Spec.NodeName != "kind-control-plane" {
		t.Errorf("a pod tolerating the taint went to %q, want kind-control-plane", p.Spec.NodeName)
	}

	// Kubernetes lets a pod's tolerations grow: the pending pod goes to
	// the control plane once it tolerates the taint (the retry of pending
	// pods, or its update, schedules it again).
	for {
		p := waitPod(t, srv, "big", func(*corev1.Pod) bool { return true })
		tolerating(p)
		err := srv.Admin.Update(ctx, api.Pods, "default", p, "")
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) {
			t.Fatal(err)
		}
	}
	if p := waitPod(t, srv, "big", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); p.Spec.NodeName != "kind-control-plane" {
		t.Errorf("after its toleration was added, the pod went to %q, want kind-control-plane", p.Spec.NodeName)
	}
}

// A third-party plugin that ignores taints (or names a node that does not
// exist) does not get its way: the core re-checks each decision before it
// binds, as the kubelet's admission does.
func TestSchedulingRechecksThePluginsDecision(t *testing.T) {
	srv := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	choice := "tainted"
	careless := &fake.Scheduler{
		ConfigureFunc: func(context.Context, base.Config) error { return nil },
		UpdateFunc:    func(context.Context, []scheduler.Change) error { return nil },
		ScheduleFunc: func(_ context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
			mu.Lock()
			defer mu.Unlock()
			out := make([]scheduler.Decision, len(pods))
			for i := range out {
				out[i].NodeName = choice
			}
			return out, nil
		},
	}
	s := &Scheduling{Client: srv.Admin, Scheduler: (&swappable{impl: careless}).get, Log: slog.Default()}
	go s.Run(ctx)

	tainted := readyNode("tainted", "8", "16Gi")
	tainted.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	for _, n := range []*corev1.Node{tainted, readyNode("free", "8", "16Gi")} {
		if err := srv.Admin.Create(ctx, api.Nodes, "", n); err != nil {
			t.Fatal(err)
		}
	}
	// The plugin names nodes without waiting for them; let the core see
	// both first, so that the first answer is about the taint.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s.mu.Lock()
		seen := len(s.nodes)
		s.mu.Unlock()
		if seen == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduling controller saw %d nodes, want 2", seen)
		}
	}
	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("web", "100m", "")); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, srv, "web", func(p *corev1.Pod) bool { return scheduledCondition(p) != nil })
	const want = `the scheduler plugin chose node "tainted", which the pod does not fit: node(s) had untolerated taint {dedicated: db}`
	if c := scheduledCondition(p); p.Spec.NodeName != "" || c.Status != corev1.ConditionFalse || c.Message != want {
		t.Fatalf("a decision for a tainted node: node %q, condition %+v, want pending with %q", p.Spec.NodeName, c, want)
	}

	mu.Lock()
	choice = "ghost"
	mu.Unlock()
	const wantGhost = `the scheduler plugin chose node "ghost", which does not exist`
	p = waitPod(t, srv, "web", func(p *corev1.Pod) bool { c := scheduledCondition(p); return c != nil && c.Message == wantGhost })
	if p.Spec.NodeName != "" {
		t.Fatalf("a decision for a node that does not exist bound the pod to %q", p.Spec.NodeName)
	}

	// A decision the core accepts binds, on the pending pod's next retry.
	mu.Lock()
	choice = "free"
	mu.Unlock()
	if p := waitPod(t, srv, "web", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" }); p.Spec.NodeName != "free" {
		t.Errorf("bound to %q, want free", p.Spec.NodeName)
	}
}

func TestPodRequestsCountInitContainersAsKubernetes(t *testing.T) {
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}}},
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}}},
		},
	}
	r := PodRequests(spec)
	if r.MilliCPU != 3000 || r.MemoryBytes != 1<<30 || r.Pods != 1 {
		t.Errorf("requests = %+v, want 3000m CPU (the init container), 1Gi, 1 pod", r)
	}
}

// A pod that ran to its end holds nothing on its node: a pending pod that
// did not fit beside it is scheduled once it has Succeeded.
func TestFinishedPodsFreeTheirNode(t *testing.T) {
	srv := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Scheduling{Client: srv.Admin, Scheduler: (&swappable{impl: binpack.New()}).get, Recorder: events.NewRecorder(srv.Admin, "default-scheduler", ""), Log: slog.Default()}
	go s.Run(ctx)
	if err := srv.Admin.Create(ctx, api.Nodes, "", readyNode("n1", "2", "4Gi")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("job", "1500m", "")); err != nil {
		t.Fatal(err)
	}
	job := waitPod(t, srv, "job", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if err := srv.Admin.Create(ctx, api.Pods, "default", podRequesting("next", "1500m", "")); err != nil {
		t.Fatal(err)
	}
	next := waitPod(t, srv, "next", func(p *corev1.Pod) bool { return scheduledCondition(p) != nil })
	if next.Spec.NodeName != "" {
		t.Fatalf("next went to %q beside a running job", next.Spec.NodeName)
	}
	job.Status.Phase = corev1.PodSucceeded
	if err := srv.Admin.Update(ctx, api.Pods, "default", job, "status"); err != nil {
		t.Fatal(err)
	}
	next = waitPod(t, srv, "next", func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
	if next.Spec.NodeName != "n1" {
		t.Errorf("next went to %q, want n1 once the job finished", next.Spec.NodeName)
	}
}
