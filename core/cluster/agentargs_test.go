package cluster

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/daemon"
)

// As kind: the control plane of a cluster with workers registers tainted
// node-role.kubernetes.io/control-plane:NoSchedule; a single node does not,
// nor does a worker.
func TestAgentArgsTaintTheControlPlaneOnlyWithWorkers(t *testing.T) {
	const flag = "--register-with-taints"
	taint := func(args []string) string {
		if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	o := &Options{PluginDir: "/plugins"}
	single := &State{Server: "172.31.0.1:6443", Nodes: []NodeState{{Name: "dev-control-plane", Role: RoleControlPlane}}}
	if got := taint(single.agentArgs(o, &single.Nodes[0], "tok", "sha256:x")); got != "" {
		t.Errorf("single-node control plane: %s %q, want no taint", flag, got)
	}
	multi := &State{Server: "172.31.0.1:6443", Nodes: []NodeState{
		{Name: "dev-control-plane", Role: RoleControlPlane}, {Name: "dev-worker", Role: RoleWorker}, {Name: "dev-worker2", Role: RoleWorker}}}
	cp := multi.agentArgs(o, &multi.Nodes[0], "tok", "sha256:x")
	if got := taint(cp); got != "node-role.kubernetes.io/control-plane=:NoSchedule" {
		t.Errorf("control plane with workers: %s %q in %q, want node-role.kubernetes.io/control-plane=:NoSchedule", flag, got, strings.Join(cp, " "))
	}
	for i := 1; i < len(multi.Nodes); i++ {
		if got := taint(multi.agentArgs(o, &multi.Nodes[i], "tok", "sha256:x")); got != "" {
			t.Errorf("%s: %s %q, want no taint", multi.Nodes[i].Name, flag, got)
		}
	}
}

// The flag's value is what skiffd agent parses into kubeadm's taint.
func TestControlPlaneTaintParses(t *testing.T) {
	got, err := daemon.ParseTaints(ControlPlaneTaint)
	want := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	if err != nil || len(got) != 1 || got[0] != want || got[0].ToString() != "node-role.kubernetes.io/control-plane:NoSchedule" {
		t.Errorf("ParseTaints(%q) = %+v, %v; want %+v", ControlPlaneTaint, got, err, want)
	}
}
