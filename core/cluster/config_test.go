package cluster

import (
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n- role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := nodeNames("dev", c.Nodes)
	want := []nodeSpec{{"dev-control-plane", RoleControlPlane}, {"dev-worker", RoleWorker}, {"dev-worker2", RoleWorker}}
	if len(got) != len(want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("node %d: %v, want %v", i, got[i], want[i])
		}
	}
	// Several control planes, named as kind names them.
	c, err = ParseConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: control-plane\n- role: control-plane\n- role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantHA := []nodeSpec{{"dev-control-plane", RoleControlPlane}, {"dev-control-plane2", RoleControlPlane}, {"dev-control-plane3", RoleControlPlane}, {"dev-worker", RoleWorker}}
	if got := nodeNames("dev", c.Nodes); len(got) != len(wantHA) || got[1] != wantHA[1] || got[2] != wantHA[2] || got[3] != wantHA[3] {
		t.Errorf("HA nodes %v, want %v", got, wantHA)
	}
	if c, err := ParseConfig([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")); err != nil || len(c.Nodes) != 1 || c.Nodes[0].Role != RoleControlPlane {
		t.Errorf("default: %+v %v, want one control plane", c, err)
	}
	for _, tc := range []struct{ doc, want string }{
		{"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  image: kindest/node\n", `unknown field "image"`},
		{"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nfeatureGates: {}\n", `unknown field "featureGates"`},
		{"kind: Cluster\napiVersion: v1\n", "apiVersion"},
		{"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n", "no control-plane node"},
		{"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n" + strings.Repeat("- role: control-plane\n", 8), "8 control-plane nodes: at most 7"},
		{"kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: master\n", `nodes[1].role: "master"`},
	} {
		if _, err := ParseConfig([]byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.doc, err, tc.want)
		}
	}
	for name, ok := range map[string]bool{"dev": true, "a-b-1": true, "toolongname13": false, "Dev": false, "-a": false, "": false} {
		if err := checkName(name); (err == nil) != ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
