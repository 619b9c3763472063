package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
)

// Names the reset tests give the node through a config profile, so that
// reset is seen to take them from the same --config/--profile.
const (
	resetNamespace   = "skiff-e2e-reset"
	resetVXLANDevice = "skiffe2evx0"
	resetVXLANPort   = "18472"
)

// resetPodManifest is a pod with a secret volume and an emptyDir on
// tmpfs: mounts under the data dir that outlive skiffd.
const resetPodManifest = `apiVersion: v1
kind: Secret
metadata:
  name: reset-creds
stringData:
  password: hunter2
---
apiVersion: v1
kind: Pod
metadata:
  name: leftover
spec:
  volumes:
  - name: creds
    secret:
      secretName: reset-creds
  - name: scratch
    emptyDir: {medium: Memory}
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
    volumeMounts:
    - {name: creds, mountPath: /creds}
    - {name: scratch, mountPath: /scratch}
`

// `skiffd reset` after `skiffd dev` was stopped removes the containers
// that kept running, the pod network (bridge, VXLAN device, iptables
// chains), the mounts under the data dir and the data dir, each checked on
// the host; a second reset finds nothing and succeeds.
func TestReset(t *testing.T) {
	cfg, nodeIP := resetProfile(t)
	c := startCluster(t, "--config", cfg, "--profile", "reset", "--node-ip", nodeIP)
	resetAndCheck(t, c, c.containerd, c.containerd, cfg, nodeIP != "127.0.0.1", false)
}

// When skiffd ran its own containerd under the data dir, reset starts it
// again to remove the containers, then stops it and its shims.
func TestResetOwnContainerd(t *testing.T) {
	testResetOwnContainerd(t, false)
}

// A skiffd that was killed leaves its containerd running: reset uses it,
// then stops it.
func TestResetOwnContainerdAfterKill(t *testing.T) {
	testResetOwnContainerd(t, true)
}

func testResetOwnContainerd(t *testing.T, kill bool) {
	cfg, _ := resetProfile(t)
	none := filepath.Join(t.TempDir(), "none.sock") // nothing answers there
	c := startCluster(t, "--config", cfg, "--profile", "reset", "--containerd-socket", none)
	ownDir := filepath.Join(c.dataDir, "containerd")
	t.Cleanup(func() { // if the test fails before reset: stop it by PID
		for _, pid := range processesWith(filepath.Join(ownDir, "config.toml")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	resetAndCheck(t, c, none, filepath.Join(ownDir, "containerd.sock"), cfg, false, kill)
	if pids := processesWith(ownDir); len(pids) > 0 {
		t.Errorf("processes of skiffd's containerd (or its shims) left after reset: %v", pids)
	}
}

// processesWith are the PIDs of the processes with an argument that
// contains s.
func processesWith(s string) []int {
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil || !strings.Contains(string(data), s) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// resetProfile writes a config file whose "reset" profile gives the node
// its own containerd namespace and VXLAN device, and returns it with the
// node IP to run with: a non-loopback address of the host, so that the
// node gets a VXLAN device, when there is one.
func resetProfile(t *testing.T) (cfg, nodeIP string) {
	t.Helper()
	cfg = filepath.Join(t.TempDir(), "skiffd.yaml")
	writeFile(t, cfg, fmt.Sprintf(`profiles:
  reset:
    runtime: {settings: {namespace: %s}}
    network: {settings: {vxlan_device: %s, vxlan_port: %q}}
`, resetNamespace, resetVXLANDevice, resetVXLANPort))
	t.Cleanup(func() {
		if linkPresent(resetVXLANDevice) {
			_ = exec.Command("ip", "link", "delete", resetVXLANDevice).Run()
		}
	})
	return cfg, hostIPv4()
}

func hostIPv4() string {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || strings.HasPrefix(ifc.Name, "skiff") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// resetAndCheck runs a pod, checks what the node made, stops skiffd (with
// SIGKILL if kill, else SIGTERM), resets the node and checks it is all
// gone. socketFlag is skiffd dev's --containerd-socket, socket the
// containerd the node used.
func resetAndCheck(t *testing.T, c *cluster, socketFlag, socket, cfg string, wantVXLAN, kill bool) {
	c.apply(fmt.Sprintf(resetPodManifest, testImage))
	c.waitPodPhase("leftover", "Running", 90*time.Second)

	// What the node has made, seen on the host before reset.
	pids := taskPIDs(t, socket, resetNamespace)
	if len(pids) == 0 {
		t.Fatalf("no running task in containerd namespace %q", resetNamespace)
	}
	if !linkPresent(testBridge) {
		t.Fatalf("no bridge %s", testBridge)
	}
	if wantVXLAN != linkPresent(resetVXLANDevice) {
		t.Fatalf("VXLAN device %s present: %v, want %v", resetVXLANDevice, !wantVXLAN, wantVXLAN)
	}
	if rules := iptablesLines(t, testBridge); len(rules) == 0 {
		t.Fatalf("no iptables chains or rules for %s", testBridge)
	}
	mounts := mountsUnder(t, c.dataDir)
	if !containsSubstring(mounts, "/plugins/volumes/") || !containsSubstring(mounts, "/plugins/network/") {
		t.Fatalf("mounts under the data dir lack the volumes' and the pod network namespace's: %q", mounts)
	}

	args := []string{"reset", "--data-dir", c.dataDir, "--containerd-socket", socketFlag,
		"--pod-bridge", testBridge, "--config", cfg, "--profile", "reset"}
	// Refused while skiffd runs, even with --force.
	out, err := runSkiffd(t, "", append(args, "--force")...)
	if err == nil || !strings.Contains(out, "skiffd is running with data dir "+c.dataDir) {
		t.Fatalf("reset while skiffd runs: %v, want a refusal:\n%s", err, out)
	}
	if kill {
		_ = c.cmd.Process.Kill()
		<-c.exited
		c.cmd = nil
	} else {
		c.stop()
	}
	// Without a terminal, --force is needed.
	out, err = runSkiffd(t, "y\n", args...)
	if err == nil || !strings.Contains(out, "run skiffd reset --force") {
		t.Fatalf("reset without a terminal nor --force: %v, want a refusal:\n%s", err, out)
	}
	if !linkPresent(testBridge) || len(mountsUnder(t, c.dataDir)) == 0 {
		t.Fatalf("a refused reset changed the node")
	}
	for id, pid := range pids {
		if processGone(int(pid)) {
			t.Fatalf("process %d of container %s is gone before reset", pid, id)
		}
	}

	out, err = runSkiffd(t, "", append(args, "--force")...)
	t.Logf("skiffd %s:\n%s", strings.Join(append(args, "--force"), " "), out)
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	for _, want := range []string{"[reset] Removed ", "and their tasks from containerd namespace \"" + resetNamespace + "\"",
		"[reset] Tore down the node network with network plugin net-overlay", "[reset] Unmounted ", "[reset] Deleted the data dir " + c.dataDir,
		"does not clean your client config"} {
		if !strings.Contains(out, want) {
			t.Errorf("reset output lacks %q", want)
		}
	}
	if socket != socketFlag {
		want := "[reset] Starting the containerd skiffd started under "
		if kill {
			want = "[reset] Using the containerd skiffd started under "
		}
		if !strings.Contains(out, want) || strings.Contains(out, "Kept 1 image") {
			t.Errorf("reset output lacks %q, or says it kept images of a containerd whose root it deleted", want)
		}
	}

	// Checked on the host, not taken from the report.
	for id, pid := range pids {
		if !processGone(int(pid)) {
			t.Errorf("process %d of container %s still runs", pid, id)
		}
	}
	if socket == socketFlag { // else the containerd is gone with the data dir
		if left := taskPIDs(t, socket, resetNamespace); len(left) > 0 {
			t.Errorf("tasks left in %q: %v", resetNamespace, left)
		}
		if n := containerCount(t, socket, resetNamespace); n != 0 {
			t.Errorf("%d containers left in containerd namespace %q", n, resetNamespace)
		}
	}
	for _, link := range []string{testBridge, resetVXLANDevice} {
		if linkPresent(link) {
			t.Errorf("link %s left", link)
		}
	}
	if rules := iptablesLines(t, testBridge); len(rules) > 0 {
		t.Errorf("iptables chains or rules of %s left:\n%s", testBridge, strings.Join(rules, "\n"))
	}
	if m := mountsUnder(t, c.dataDir); len(m) > 0 {
		t.Errorf("mounts left under the data dir: %q", m)
	}
	if _, err := os.Stat(c.dataDir); !os.IsNotExist(err) {
		t.Errorf("data dir %s: %v, want it gone", c.dataDir, err)
	}

	// Again: nothing left, success.
	out, err = runSkiffd(t, "", append(args, "--force")...)
	if err != nil {
		t.Fatalf("second reset: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Nothing was left to remove") {
		t.Errorf("second reset does not say nothing was left:\n%s", out)
	}
	if _, err := os.Stat(c.dataDir); !os.IsNotExist(err) {
		t.Errorf("second reset left data dir %s: %v", c.dataDir, err)
	}
}

// runSkiffd runs skiffd with stdin (not a terminal) and returns its
// combined output.
func runSkiffd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "skiffd"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// containerTasks maps each container of containerd namespace ns to its
// task's PID (0: no task).
func containerTasks(t *testing.T, socket, ns string) map[string]uint32 {
	t.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd %s: %v", socket, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 30*time.Second)
	defer cancel()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	out := map[string]uint32{}
	for _, ctr := range ctrs {
		out[ctr.ID()] = 0
		if task, err := ctr.Task(ctx, nil); err == nil {
			out[ctr.ID()] = task.Pid()
		}
	}
	return out
}

// taskPIDs are the PIDs of the running tasks in containerd namespace ns.
func taskPIDs(t *testing.T, socket, ns string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for id, pid := range containerTasks(t, socket, ns) {
		if pid != 0 {
			out[id] = pid
		}
	}
	return out
}

func containerCount(t *testing.T, socket, ns string) int {
	t.Helper()
	return len(containerTasks(t, socket, ns))
}

func linkPresent(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// iptablesLines are the lines of iptables-save (filter and nat) that name
// the bridge: its chains, their rules and the jumps to them.
func iptablesLines(t *testing.T, bridge string) []string {
	t.Helper()
	var lines []string
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			t.Fatalf("iptables-save -t %s: %v", table, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, bridge) {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

// mountsUnder lists the host's mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
