package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/test/testenv"
)

// pluginPIDs reads `plugin ls` into kind -> PID.
func (c *cluster) pluginPIDs() map[string]int {
	out := c.mustCtl("plugin", "ls", "--no-headers")
	pids := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[7] == "true" {
			pid, _ := strconv.Atoi(f[5])
			pids[f[1]] = pid
		}
	}
	return pids
}

func (c *cluster) runSleeper(name string) {
	c.t.Helper()
	c.mustCtl("run", name, "--image="+testImage, "--restart=Always", "--", "sleep", "3600")
	c.waitPodPhase(name, "Running", 90*time.Second)
}

// Killing any plugin process: the core restarts it and running containers
// are untouched (same PID, no restart).
func TestKilledPluginsAreRestartedAndContainersUntouched(t *testing.T) {
	c := startCluster(t)
	c.runSleeper("steady")
	before := containerPIDs(t, c.containerd)
	if len(before) != 1 {
		t.Fatalf("expected one running container, found %v", before)
	}
	for _, kind := range []string{"runtime", "network", "volumes", "probes", "scheduler"} {
		old := c.pluginPIDs()[kind]
		if old == 0 {
			t.Fatalf("plugin ls shows no healthy %s plugin:\n%s", kind, c.mustCtl("plugin", "ls"))
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s plugin (pid %d): %v", kind, old, err)
		}
		c.waitFor(kind+" plugin restarted", 30*time.Second, func() (bool, string) {
			pid := c.pluginPIDs()[kind]
			return pid != 0 && pid != old, c.mustCtl("plugin", "ls")
		})
	}
	listing := c.mustCtl("plugin", "ls")
	if !regexp.MustCompile(`(?m)^skiff-e2e\s+runtime\s+runtime-containerd\s+\S+\s+1\s+\d+\s+1\s+true`).MatchString(listing) {
		t.Errorf("plugin ls does not show the runtime restarted once and healthy:\n%s", listing)
	}
	if after := containerPIDs(t, c.containerd); !maps.Equal(before, after) {
		t.Errorf("containers changed while plugins restarted: before %v, after %v", before, after)
	}
	if rows := c.mustCtl("get", "pod", "steady", "--no-headers"); !regexp.MustCompile(`steady\s+1/1\s+Running\s+0\s`).MatchString(rows) {
		t.Errorf("pod after plugin restarts: %s", rows)
	}
	// The node still works: a new pod starts through the restarted plugins.
	c.runSleeper("after")
}

// Stopping and restarting `skiffd dev` on the same data dir: every pod is
// still there and its containers were not restarted.
func TestDevRestartReadoptsContainers(t *testing.T) {
	c := startCluster(t)
	c.runSleeper("one")
	c.runSleeper("two")
	before := containerPIDs(t, c.containerd)
	c.stop()
	c.start()
	c.waitFor("pods reported Running again", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pods", "--no-headers")
		return regexp.MustCompile(`(?m)^one\s+1/1\s+Running\s+0\s`).MatchString(out) &&
			regexp.MustCompile(`(?m)^two\s+1/1\s+Running\s+0\s`).MatchString(out), out
	})
	// Give the agent a few sync periods to do anything wrong.
	time.Sleep(3 * time.Second)
	if after := containerPIDs(t, c.containerd); !maps.Equal(before, after) {
		t.Errorf("containers changed across a skiffd restart: before %v, after %v", before, after)
	}
	c.mustCtl("delete", "pod", "one", "--grace-period=1")
	if after := containerPIDs(t, c.containerd); len(after) != 1 {
		t.Errorf("after deleting one pod, %d containers run, want 1", len(after))
	}
}

// When nothing answers on the containerd socket, skiffd dev starts its own
// containerd with its state under the data dir, and stops it on exit.
func TestDevStartsItsOwnContainerd(t *testing.T) {
	c := &cluster{t: t, dataDir: t.TempDir(), listen: freeLoopbackAddr(t), containerd: filepath.Join(t.TempDir(), "nothing.sock")}
	c.config = filepath.Join(c.dataDir, "admin.conf")
	c.logPath = filepath.Join(c.dataDir, "skiffd.log")
	t.Cleanup(c.cleanup)
	c.start()
	sock := filepath.Join(c.dataDir, "containerd", "containerd.sock")
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("no containerd socket under the data dir: %v", err)
	}
	c.stop()
	if _, err := os.Stat(sock); err == nil {
		if conn, err := exec.Command("ctr", "--address", sock, "version").CombinedOutput(); err == nil {
			t.Errorf("containerd still answers after skiffd stopped: %s", conn)
		}
	}
}

// skiffd server and skiffd agent run the two halves; the server can use an
// external etcd.
func TestServerAndAgentWithExternalEtcd(t *testing.T) {
	c := startSplitCluster(t)
	c.runSleeper("split")
	if out := c.mustCtl("get", "nodes", "--no-headers"); !regexp.MustCompile(`^skiff-e2e\s+Ready\s+<none>\s`).MatchString(out) {
		t.Errorf("get nodes: %s", out)
	}
}

// startSplitCluster runs etcd in the test, `skiffd server --etcd-endpoints`
// and `skiffd agent --server`.
func startSplitCluster(t *testing.T) *cluster {
	t.Helper()
	etcdDir := t.TempDir()
	e, err := embedetcd.Start(context.Background(), etcdDir)
	if err != nil {
		t.Fatalf("start the test's etcd: %v", err)
	}
	t.Cleanup(e.Close)
	c := &cluster{t: t, dataDir: t.TempDir(), listen: freeLoopbackAddr(t), containerd: testenv.Containerd(t)}
	c.config = filepath.Join(c.dataDir, "admin.conf")
	c.logPath = filepath.Join(c.dataDir, "skiffd.log")
	server := c.spawn("server", "--data-dir", c.dataDir, "--listen", c.listen, "--etcd-endpoints", e.Endpoint, "--cluster-cidr", testClusterCIDR)
	c.exited = make(chan struct{})
	c.waitFor("server up (admin config written)", 60*time.Second, func() (bool, string) {
		_, err := os.Stat(c.config)
		return err == nil, fmt.Sprint(err)
	})
	agentDir := t.TempDir()
	agent := c.spawn("agent", "--data-dir", agentDir, "--server", c.listen, "--pki-dir", filepath.Join(c.dataDir, "pki"),
		"--containerd-socket", c.containerd, "--node-name", "skiff-e2e", "--pod-bridge", testBridge, "--cluster-cidr", testClusterCIDR)
	t.Cleanup(func() {
		_, _, _ = c.ctl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
		stopProcess(agent)
		stopProcess(server)
		testenv.TeardownNode(t, agentDir, testBridge)
		if t.Failed() {
			data, _ := os.ReadFile(c.logPath)
			t.Logf("skiffd log:\n%s", tail(string(data), 60))
		}
	})
	c.waitFor("node Ready", 60*time.Second, func() (bool, string) {
		out, _, err := c.ctl("get", "nodes", "--no-headers")
		return err == nil && strings.Contains(out, " Ready "), out
	})
	c.loadTestImage()
	return c
}

// spawn starts a skiffd subcommand logging to the cluster's log.
func (c *cluster) spawn(args ...string) *exec.Cmd {
	c.t.Helper()
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "skiffd"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.Start(cmd); err != nil {
		c.t.Fatalf("start skiffd %s: %v", args[0], err)
	}
	go func() { _ = cmd.Wait(); log.Close() }()
	return cmd
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
}
