package cluster

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/daemon"
	daemoncmd "github.com/skiffhq/skiff/core/daemon/cmd"
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

// Each control-plane server of an HA cluster is a member of one stacked
// etcd with every control-plane node in its initial cluster, names the
// load balancer's address in its certificate, and gets the timings; the
// arguments are ones skiffd server accepts.
func TestHAServerArgs(t *testing.T) {
	o := &Options{PluginDir: "/plugins", NodeGracePeriod: 4 * time.Second, NodeCertTTL: time.Hour}
	s := &State{Server: "172.31.0.1:6443", BridgeIP: "172.31.0.1", ClusterCIDR: "10.244.0.0/16", Nodes: []NodeState{
		{Name: "ha-control-plane", Role: RoleControlPlane, IP: "172.31.0.10", ServerDataDir: "/s/1"},
		{Name: "ha-control-plane2", Role: RoleControlPlane, IP: "172.31.0.11", ServerDataDir: "/s/2"},
		{Name: "ha-worker", Role: RoleWorker, IP: "172.31.0.12"},
	}}
	args := s.haServerArgs(o, &s.Nodes[1])
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	for name, want := range map[string]string{
		"--listen": "172.31.0.11:6443", "--data-dir": "/s/2", "--tls-san": "172.31.0.1",
		"--etcd-name": "ha-control-plane2", "--etcd-peer-listen": "172.31.0.11:2380",
		"--etcd-initial-cluster": "ha-control-plane=https://172.31.0.10:2380,ha-control-plane2=https://172.31.0.11:2380",
		"--node-grace-period":    "4s", "--node-cert-ttl": "1h0m0s",
	} {
		if got := flag(name); got != want {
			t.Errorf("%s %q, want %q (args %q)", name, got, want, args)
		}
	}
	if !s.ha() || s.Nodes[2].ServerDataDir != "" {
		t.Errorf("ha() = %v", s.ha())
	}
	root := daemoncmd.NewRoot(io.Discard, io.Discard)
	sub, rest, err := root.Find(args)
	if err != nil || sub.Name() != "server" {
		t.Fatalf("find %q: %v, %v", args, sub, err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Errorf("skiffd server does not take %q: %v", rest, err)
	}
}
