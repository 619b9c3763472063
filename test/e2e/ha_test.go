package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	skcluster "github.com/skiffhq/skiff/core/cluster"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// TestHAControlPlane is kind's HA cluster: three control-plane nodes, each
// running a server with a member of one stacked etcd, behind a load
// balancer, and a worker. The server that leads (runs the controllers and
// the scheduler) is killed: the others keep serving through the load
// balancer, one of them takes over the controllers, pods are still
// scheduled and started, and `cluster start` brings the dead one back.
func TestHAControlPlane(t *testing.T) {
	testenv.RequireRoot(t)
	tmp := t.TempDir()
	m := &multiCluster{t: t, name: fmt.Sprintf("ha%d", os.Getpid()%10000), stateDir: filepath.Join(tmp, "clusters"),
		config: filepath.Join(tmp, "skiffconfig"), home: filepath.Join(tmp, "home")}
	archive, err := testimage.BusyboxArchive(tmp, testImage)
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(m.stateDir, m.name)); err == nil {
			if t.Failed() {
				t.Logf("cluster logs:\n%s", m.logs())
			}
			if err := skcluster.Delete(context.Background(), m.stateDir, m.name, nil); err != nil {
				t.Errorf("clean up cluster: %v", err)
			}
		}
	})
	kindConfig := filepath.Join(tmp, "ha.yaml")
	if err := os.WriteFile(kindConfig, []byte(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: control-plane
- role: control-plane
- role: worker
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := m.ctl("cluster", "create", "--name", m.name, "--config", kindConfig, "--image-archive", archive,
		"--heartbeat-interval", "1s", "--node-grace-period", "4s")
	if err != nil {
		t.Fatalf("cluster create: %v\n%s%s\n%s", err, out, errOut, m.logs())
	}
	t.Logf("cluster create:\n%s", out)
	st := m.state()
	out = m.mustCtl("get", "nodes", "--no-headers")
	ready, cps := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[1] == "Ready" {
			ready++
			if f[2] == "control-plane" {
				cps++
			}
		}
	}
	if ready != 4 || cps != 3 {
		t.Fatalf("get nodes: want 4 Ready nodes, 3 of them control-plane:\n%s", out)
	}

	// The leader is one of the three servers, named by node IP and port.
	leader := func() string {
		out, _, _ := m.ctl("get", "lease", "skiff-controller-manager", "-n", "kube-system", "-o", "jsonpath={.spec.holderIdentity}")
		return out
	}
	serverOf := func(identity string) *skcluster.NodeState {
		for i := range st.Nodes {
			if st.Nodes[i].ServerDataDir != "" && strings.Contains(identity, "_"+st.Nodes[i].IP+":6443_") {
				return &st.Nodes[i]
			}
		}
		return nil
	}
	var first *skcluster.NodeState
	m.waitFor("a leader", 30*time.Second, func() (bool, string) {
		id := leader()
		first = serverOf(id)
		return first != nil, id
	})
	t.Logf("leader: %s", first.Name)
	// plugin ls lists the scheduler of every server, each as
	// server:<its control-plane node> (the one that answers live, the
	// others from their reports), and every node's agent plugins apart.
	m.waitFor("the three servers' schedulers in plugin ls", 30*time.Second, func() (bool, string) {
		out, _, _ := m.ctl("plugin", "ls", "--no-headers")
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 7 && f[1] == "scheduler" && strings.HasPrefix(f[0], "server:"+m.name+"-control-plane") && f[7] == "true" {
				n++
			}
		}
		return n == 3 && strings.Count(out, " runtime ") == 4, out
	})

	m.mustCtl("run", "before", "--image", testImage, "--", "sleep", "3600")
	m.waitFor("pod before Running", 60*time.Second, func() (bool, string) {
		s := m.jsonpath("pod/before", "{.status.phase}")
		return s == "Running", s
	})

	// The leader dies (its process group: server and scheduler plugin).
	if err := syscall.Kill(-first.Server.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the leading server: %v", err)
	}
	// The API stays up through the load balancer, and another server
	// takes the controllers over once the lease (15 s) runs out.
	var second *skcluster.NodeState
	m.waitFor("another leader", 60*time.Second, func() (bool, string) {
		id := leader()
		second = serverOf(id)
		return second != nil && second.Name != first.Name, id
	})
	t.Logf("new leader: %s", second.Name)
	m.mustCtl("run", "after", "--image", testImage, "--", "sleep", "3600")
	m.waitFor("pod after scheduled and Running under the new leader", 60*time.Second, func() (bool, string) {
		s := m.jsonpath("pod/after", "{.status.phase}")
		return s == "Running", s
	})
	if s := m.jsonpath("pod/before", "{.status.phase}"); s != "Running" {
		t.Errorf("pod before: %s after the leader died, want Running", s)
	}
	if out, _, _ := m.ctl("cluster", "ls"); !strings.Contains(out, "Degraded (8/9)") {
		t.Errorf("cluster ls with one server dead:\n%s", out)
	}

	// cluster start brings it back; it rejoins etcd and follows.
	out = m.mustCtl("cluster", "start", "--name", m.name)
	if !strings.Contains(out, "Started the server of "+first.Name+" again") {
		t.Errorf("cluster start:\n%s", out)
	}
	if out, _, _ := m.ctl("cluster", "ls"); !strings.Contains(out, m.name+"   Running") {
		t.Errorf("cluster ls after cluster start:\n%s", out)
	}
	if id := leader(); serverOf(id) == nil || serverOf(id).Name != second.Name {
		t.Errorf("leader after the old one came back: %q, want it to stay %s", id, second.Name)
	}

	st = m.state()
	out, errOut, err = m.ctl("cluster", "delete", "--name", m.name)
	if err != nil {
		t.Fatalf("cluster delete: %v\n%s%s", err, out, errOut)
	}
	checkClusterGone(t, st, m.config)
}
