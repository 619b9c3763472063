package controllers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

func TestNodeLifecycleMarksSilentNode(t *testing.T) {
	srv := testapi.Start(t)
	ctx := context.Background()
	c := srv.Admin
	old := metav1.NewTime(time.Now().Add(-time.Minute))
	fresh := metav1.Now()
	for name, hb := range map[string]metav1.Time{"silent": old, "alive": fresh} {
		n := readyNode(name, "1", "1Gi")
		if err := c.Create(ctx, api.Nodes, "", n); err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions[0].LastHeartbeatTime = hb
		n.Status.Conditions[0].Reason = "KubeletReady"
		if err := c.Update(ctx, api.Nodes, "", n, "status"); err != nil {
			t.Fatal(err)
		}
	}
	for _, node := range []string{"silent", "alive"} {
		p := podRequesting("p-"+node, "", "")
		p.Spec.NodeName = node
		if err := c.Create(ctx, api.Pods, "default", p); err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if err := c.Update(ctx, api.Pods, "default", p, "status"); err != nil {
			t.Fatal(err)
		}
	}
	nl := &NodeLifecycle{Client: c, GracePeriod: 30 * time.Second, Log: slog.Default(), Now: time.Now}
	nl.check(ctx)

	get := func(name string) *corev1.Node {
		var n corev1.Node
		if err := c.Get(ctx, api.Nodes, "", name, &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	podReady := func(name string) corev1.ConditionStatus {
		var p corev1.Pod
		if err := c.Get(ctx, api.Pods, "default", name, &p); err != nil {
			t.Fatal(err)
		}
		for _, pc := range p.Status.Conditions {
			if pc.Type == corev1.PodReady {
				return pc.Status
			}
		}
		return ""
	}
	if cond := readyOf(get("silent")); cond.Status != corev1.ConditionUnknown || cond.Reason != ReasonNodeStatusUnknown || cond.Message != MessageNodeStatusUnknown {
		t.Errorf("silent node: Ready = %+v, want Unknown/%s", cond, ReasonNodeStatusUnknown)
	}
	if cond := readyOf(get("alive")); cond.Status != corev1.ConditionTrue {
		t.Errorf("alive node: Ready = %s, want True", cond.Status)
	}
	if s := podReady("p-silent"); s != corev1.ConditionFalse {
		t.Errorf("pod on silent node: Ready = %s, want False", s)
	}
	if s := podReady("p-alive"); s != corev1.ConditionTrue {
		t.Errorf("pod on alive node: Ready = %s, want True", s)
	}

	// The agent comes back: its heartbeat makes the node Ready; the
	// controller leaves it alone.
	n := get("silent")
	n.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
	if err := c.Update(ctx, api.Nodes, "", n, "status"); err != nil {
		t.Fatal(err)
	}
	nl.check(ctx)
	if cond := readyOf(get("silent")); cond.Status != corev1.ConditionTrue {
		t.Errorf("node back: Ready = %s, want True", cond.Status)
	}
}
