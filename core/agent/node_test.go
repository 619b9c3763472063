package agent

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// RegisterWithTaints is the kubelet's --register-with-taints: the taints
// are the Node's when the agent creates it, and never written again, so a
// restarted agent neither puts back a taint somebody removed nor drops one
// somebody added.
func TestRegisterWithTaintsOnlyOnCreate(t *testing.T) {
	srv := testapi.Start(t)
	ctx := context.Background()
	controlPlane := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	newAgent := func(name string, taints ...corev1.Taint) *Agent {
		return &Agent{cfg: Config{NodeName: name, NodeIP: "10.0.0.2", Client: srv.Admin, Roles: []string{"control-plane"},
			RegisterWithTaints: taints}, log: slog.Default()}
	}
	get := func(name string) *corev1.Node {
		t.Helper()
		var n corev1.Node
		if err := srv.Admin.Get(ctx, api.Nodes, "", name, &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	wantTaints := func(step, name string, want ...corev1.Taint) {
		t.Helper()
		if got := get(name).Spec.Taints; !apiequality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s: node %s has taints %+v, want %+v", step, name, got, want)
		}
	}

	// First registration: the node is made with the taints.
	cp := newAgent("kind-control-plane", controlPlane)
	if _, err := cp.register(ctx, 10250); err != nil {
		t.Fatal(err)
	}
	wantTaints("created", "kind-control-plane", controlPlane)
	if _, ok := get("kind-control-plane").Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("labels: %v, want the control-plane role", get("kind-control-plane").Labels)
	}

	// The admin removes the taint; the agent restarts with the same flag.
	n := get("kind-control-plane")
	n.Spec.Taints = nil
	if err := srv.Admin.Update(ctx, api.Nodes, "", n, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := newAgent("kind-control-plane", controlPlane).register(ctx, 10250); err != nil {
		t.Fatal(err)
	}
	wantTaints("re-registered after the taint was removed", "kind-control-plane")

	// The admin adds another; the agent restarts without the flag.
	dedicated := corev1.Taint{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoExecute}
	n = get("kind-control-plane")
	n.Spec.Taints = []corev1.Taint{dedicated}
	if err := srv.Admin.Update(ctx, api.Nodes, "", n, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := newAgent("kind-control-plane").register(ctx, 10250); err != nil {
		t.Fatal(err)
	}
	wantTaints("re-registered without the flag", "kind-control-plane", dedicated)

	// An agent without the flag makes an untainted node.
	if _, err := newAgent("kind-worker").register(ctx, 10250); err != nil {
		t.Fatal(err)
	}
	wantTaints("worker", "kind-worker")
}

// The Config's taints are copied into the node object, not shared with it.
func TestNodeObjectCopiesTaints(t *testing.T) {
	a := &Agent{cfg: Config{NodeName: "n", NodeIP: "10.0.0.2",
		RegisterWithTaints: []corev1.Taint{{Key: "k", Value: "v", Effect: corev1.TaintEffectPreferNoSchedule}}}}
	n := a.nodeObject(10250)
	n.Spec.Taints[0].Key = "changed"
	if a.cfg.RegisterWithTaints[0].Key != "k" {
		t.Errorf("nodeObject shares its taints with the config")
	}
	if got := a.nodeObject(10250).Spec.Taints; len(got) != 1 || got[0].ToString() != "k=v:PreferNoSchedule" {
		t.Errorf("taints %+v", got)
	}
}
