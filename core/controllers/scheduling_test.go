package controllers

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
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
