package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	skcluster "github.com/skiffhq/skiff/core/cluster"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// multiCluster is a `skiffctl cluster create` cluster made by a test, with
// its state and the user's client config kept in the test's temp dir.
type multiCluster struct {
	t        *testing.T
	name     string
	stateDir string
	config   string // SKIFFCONFIG
	home     string
}

func (m *multiCluster) ctlIn(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "skiffctl"), args...)
	cmd.Env = append(os.Environ(), m.env()...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, strings.NewReader(stdin)
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// env is what skiffctl needs to reach the cluster: the client config, home
// and cluster state all in the test's temp dir.
func (m *multiCluster) env() []string {
	return []string{"SKIFFCONFIG=" + m.config, "HOME=" + m.home, skcluster.EnvStateRoot + "=" + m.stateDir}
}

func (m *multiCluster) ctl(args ...string) (string, string, error) { return m.ctlIn("", args...) }

func (m *multiCluster) mustCtl(args ...string) string {
	m.t.Helper()
	out, errOut, err := m.ctl(args...)
	if err != nil {
		m.t.Fatalf("skiffctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (m *multiCluster) state() *skcluster.State {
	m.t.Helper()
	st, err := skcluster.Load(m.stateDir, m.name)
	if err != nil {
		m.t.Fatal(err)
	}
	return st
}

func (m *multiCluster) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	m.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out after %v waiting for %s; last state:\n%s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (m *multiCluster) jsonpath(what, expr string) string {
	out, _, _ := m.ctl("get", what, "-o", "jsonpath="+expr)
	return out
}

func (m *multiCluster) logs() string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(m.stateDir, m.name, "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s (tail)\n%s\n", filepath.Base(f), tail(string(data), 25))
	}
	return b.String()
}

// procs says which of the cluster's recorded processes still run, for a
// failed test's log.
func (m *multiCluster) procs() string {
	st, err := skcluster.Load(m.stateDir, m.name)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	line := func(what string, p skcluster.Proc) {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
		fmt.Fprintf(&b, "%s pid %d alive %v: %s\n", what, p.PID, p.Alive(), strings.TrimSpace(string(stat)))
	}
	line("server", st.ServerProc)
	line("containerd", st.Containerd)
	for _, n := range st.Nodes {
		line("agent of "+n.Name, n.Agent)
	}
	return b.String()
}

// TestMultiNodeCluster is the multi-node story: a 1+3 cluster from kind's
// config, pods on two workers talking across the VXLAN overlay, a worker
// whose agent dies going NotReady and coming back without duplicating its
// pod, and a delete that leaves nothing behind.
func TestMultiNodeCluster(t *testing.T) {
	testenv.RequireRoot(t)
	tmp := t.TempDir()
	m := &multiCluster{t: t, name: fmt.Sprintf("e2e%d", os.Getpid()%10000), stateDir: filepath.Join(tmp, "clusters"),
		config: filepath.Join(tmp, "skiffconfig"), home: filepath.Join(tmp, "home")}
	archive, err := testimage.BusyboxArchive(tmp, testImage)
	if err != nil {
		t.Fatalf("build test image: %v", err)
	}
	const grace = 4 * time.Second
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

	start := time.Now()
	out, errOut, err := m.ctl("cluster", "create", "--name", m.name, "--config", filepath.Join(chapterDir, "kind-config.yaml"), // the chapter's 1 + 3
		"--image-archive", archive, "--heartbeat-interval", "1s", "--node-grace-period", grace.String())
	if err != nil {
		t.Fatalf("cluster create: %v\n%s%s\n%s", err, out, errOut, m.logs())
	}
	took := time.Since(start)
	t.Logf("cluster create (1+3, image loaded) took %v:\n%s", took.Round(time.Millisecond), out)
	if took > 15*time.Second {
		t.Errorf("cluster create took %v, want < 15s", took)
	}
	st := m.state()
	cp, w1, w2 := m.name+"-control-plane", m.name+"-worker", m.name+"-worker2"

	// The context is current in the redirected client config.
	if data, err := os.ReadFile(m.config); err != nil || !strings.Contains(string(data), "current-context: "+skcluster.ContextName(m.name)) {
		t.Errorf("client config %s: current context is not %s (%v):\n%s", m.config, skcluster.ContextName(m.name), err, data)
	}
	out = m.mustCtl("get", "nodes")
	t.Logf("get nodes:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("get nodes: want 4 nodes, got:\n%s", out)
	}
	roles := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != "Ready" {
			t.Errorf("node not Ready: %q", l)
			continue
		}
		roles[f[0]] = f[2]
	}
	for _, n := range st.Nodes {
		want := "<none>"
		if n.Role == skcluster.RoleControlPlane {
			want = "control-plane"
		}
		if roles[n.Name] != want {
			t.Errorf("node %s: ROLES %q, want %q", n.Name, roles[n.Name], want)
		}
	}
	if roles[cp] != "control-plane" {
		t.Errorf("no control-plane node %s in:\n%s", cp, out)
	}
	// Every agent heartbeats through its Lease, as kubelets do.
	m.waitFor("a lease per node", 10*time.Second, func() (bool, string) {
		out, _, _ := m.ctl("get", "leases", "-n", "kube-node-lease", "-o", `jsonpath={range .items[*]}{.metadata.name}={.spec.holderIdentity} {end}`)
		for _, n := range st.Nodes {
			if !strings.Contains(out, n.Name+"="+n.Name+" ") {
				return false, out
			}
		}
		return true, out
	})

	// Pods pinned to two workers talk by pod IP across the overlay.
	m.ctlIn(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers:
  - name: web
    image: %s
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  nodeSelector: {kubernetes.io/hostname: %s}
  containers:
  - name: client
    image: %s
    command: ["sleep", "3600"]
`, w1, testImage, w2, testImage), "apply", "-f", "-")
	for _, p := range []string{"web", "client"} {
		m.waitFor("pod "+p+" Running", 60*time.Second, func() (bool, string) {
			ph := m.jsonpath("pod/"+p, "{.status.phase}")
			return ph == "Running", ph
		})
	}
	if got := m.jsonpath("pod/web", "{.spec.nodeName}"); got != w1 {
		t.Fatalf("web runs on %q, want %q", got, w1)
	}
	if got := m.jsonpath("pod/client", "{.spec.nodeName}"); got != w2 {
		t.Fatalf("client runs on %q, want %q", got, w2)
	}
	webIP := m.jsonpath("pod/web", "{.status.podIP}")
	fetch := func(url string) (string, error) {
		out, errOut, err := m.ctl("exec", "client", "--", "wget", "-q", "-O", "-", url) // no -T: it crashes the static busybox
		if err != nil {
			return "", fmt.Errorf("%v: %s%s", err, out, errOut)
		}
		return out, nil
	}
	m.waitFor("client reaches web across the overlay", 20*time.Second, func() (bool, string) {
		got, err := fetch("http://" + webIP + ":8080/")
		return err == nil && strings.Contains(got, "hello-from-web"), fmt.Sprintf("%q %v", got, err)
	})

	// Through a Service name.
	m.mustCtl("expose", "pod", "web", "--port", "80", "--target-port", "8080")
	m.waitFor("client reaches web by Service name", 30*time.Second, func() (bool, string) {
		got, err := fetch("http://web/")
		return err == nil && strings.Contains(got, "hello-from-web"), fmt.Sprintf("%q %v", got, err)
	})

	// The chapter's ambassador pattern, across workers.
	m.ambassadorAcrossNodes(t, tmp, []string{w1, w2, m.name + "-worker3"})

	webUID := m.jsonpath("pod/web", "{.metadata.uid}")
	countWeb := func() int {
		c, err := containerd.New(st.ContainerdSocket, containerd.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx := namespaces.WithNamespace(context.Background(), "skiff-"+w1)
		ctrs, err := c.Containers(ctx, fmt.Sprintf(`labels."skiff.dev/pod-uid"==%s,labels."skiff.dev/container"==web`, webUID))
		if err != nil {
			t.Fatal(err)
		}
		return len(ctrs)
	}
	if n := countWeb(); n != 1 {
		t.Fatalf("web has %d containers before the agent dies, want 1", n)
	}

	// The worker's agent dies: the node turns NotReady within the grace
	// period and its pod not ready; the pod keeps running.
	var agent skcluster.Proc
	for _, n := range st.Nodes {
		if n.Name == w1 {
			agent = n.Agent
		}
	}
	if err := syscall.Kill(agent.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill agent of %s: %v", w1, err)
	}
	killed := time.Now()
	m.waitFor(w1+" NotReady", grace+10*time.Second, func() (bool, string) {
		s := m.jsonpath("node/"+w1, `{.status.conditions[?(@.type=="Ready")].status}`)
		return s == "Unknown", s
	})
	notReadyAfter := time.Since(killed)
	t.Logf("%s NotReady %v after its agent was killed (grace %v)", w1, notReadyAfter.Round(100*time.Millisecond), grace)
	// The last renewal came at most a heartbeat (1s) before the kill; the
	// controller checks every grace/8.
	if notReadyAfter < grace-1500*time.Millisecond || notReadyAfter > grace+4*time.Second {
		t.Errorf("%s NotReady %v after its agent died, want about the grace period %v", w1, notReadyAfter, grace)
	}
	// Its Lease expired in etcd; the other nodes' are there.
	if _, errOut, err := m.ctl("get", "lease", w1, "-n", "kube-node-lease"); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("lease of %s after its agent died: err %v, %s", w1, err, errOut)
	}
	if out := m.mustCtl("describe", "node", w1); !strings.Contains(out, "Failed to get lease") {
		t.Errorf("describe node %s does not show the missing lease:\n%s", w1, out)
	}
	if out, _, err := m.ctl("get", "lease", w2, "-n", "kube-node-lease", "--no-headers"); err != nil || !strings.Contains(out, w2) {
		t.Errorf("lease of the live node %s: %v %s", w2, err, out)
	}
	if out := m.mustCtl("get", "nodes"); !strings.Contains(out, "NotReady") {
		t.Errorf("get nodes does not show NotReady:\n%s", out)
	}
	m.waitFor("web not ready", 10*time.Second, func() (bool, string) {
		s := m.jsonpath("pod/web", `{.status.conditions[?(@.type=="Ready")].status}`)
		return s == "False", s
	})

	// The control plane and the cluster's containerd die too (their shims
	// and the pods live on). `cluster ls` says so, and `cluster start`
	// brings back what is not running, leaving the rest alone.
	for _, p := range []skcluster.Proc{st.ServerProc, st.Containerd} {
		if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil { // each leads its process group
			t.Fatalf("kill process group %d: %v", p.PID, err)
		}
	}
	m.waitFor("cluster ls: Degraded", 10*time.Second, func() (bool, string) {
		out, _, _ := m.ctl("cluster", "ls")
		return strings.Contains(out, m.name+"   Degraded (3/6)"), out
	})
	liveAgent := st.Nodes[0].Agent
	out = m.mustCtl("cluster", "start", "--name", m.name)
	t.Logf("cluster start:\n%s", out)
	for _, want := range []string{"Started containerd again", "Started the control plane again", "Started the agent of " + w1 + " again", "4 nodes Ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster start does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "agent of "+st.Nodes[0].Name) {
		t.Errorf("cluster start restarted a running agent:\n%s", out)
	}
	if now := m.state(); now.Nodes[0].Agent.PID != liveAgent.PID || !now.Nodes[0].Agent.Alive() {
		t.Errorf("the running agent of %s was replaced: pid %d, was %d", now.Nodes[0].Name, now.Nodes[0].Agent.PID, liveAgent.PID)
	}
	if out, _, _ := m.ctl("cluster", "ls"); !strings.Contains(out, m.name+"   Running") {
		t.Errorf("cluster ls after cluster start:\n%s", out)
	}
	if out := m.mustCtl("cluster", "start", "--name", m.name); strings.Contains(out, "again") {
		t.Errorf("cluster start on a running cluster started something:\n%s", out)
	}

	// The node comes back: Ready again, the pod re-adopted, not restarted
	// or duplicated.
	m.waitFor(w1+" Ready again", 30*time.Second, func() (bool, string) {
		s := m.jsonpath("node/"+w1, `{.status.conditions[?(@.type=="Ready")].status}`)
		return s == "True", s
	})
	if out := m.mustCtl("describe", "node", w1); !strings.Contains(out, "HolderIdentity:  "+w1) {
		t.Errorf("describe node %s: no renewed lease:\n%s", w1, out)
	}
	m.waitFor("web ready again", 30*time.Second, func() (bool, string) {
		s := m.jsonpath("pod/web", `{.status.conditions[?(@.type=="Ready")].status}`)
		return s == "True", s
	})
	if r := m.jsonpath("pod/web", "{.status.containerStatuses[0].restartCount}"); r != "0" {
		t.Errorf("web restarts after the agent came back: %q, want 0", r)
	}
	if got := m.jsonpath("pod/web", "{.metadata.uid}"); got != webUID {
		t.Errorf("web was recreated: uid %s, was %s", got, webUID)
	}
	if n := countWeb(); n != 1 {
		t.Errorf("web has %d containers after the agent came back, want 1", n)
	}
	if got, err := fetch("http://" + webIP + ":8080/"); err != nil || !strings.Contains(got, "hello-from-web") {
		t.Errorf("web after the agent came back: %q %v", got, err)
	}

	if t.Failed() { // before delete takes the logs with it
		t.Logf("cluster logs:\n%s", m.logs())
		t.Logf("processes:\n%s", m.procs())
	}

	// Delete leaves nothing behind.
	st = m.state()
	taskPIDs := clusterTaskPIDs(t, st)
	if len(taskPIDs) < 2 {
		t.Errorf("found %d running containers before delete, want at least 2 (web, client)", len(taskPIDs))
	}
	out, errOut, err = m.ctl("cluster", "delete", "--name", m.name)
	if err != nil {
		t.Fatalf("cluster delete: %v\n%s%s", err, out, errOut)
	}
	checkClusterGone(t, st, m.config)
	for _, pid := range taskPIDs {
		if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !bytes.Contains(data, []byte(") Z ")) {
			t.Errorf("container process %d still runs: %s", pid, data)
		}
	}
	if out, _, _ := m.ctl("cluster", "ls"); strings.Contains(out, m.name) {
		t.Errorf("cluster ls still lists %s:\n%s", m.name, out)
	}
}

// checkClusterGone checks, one kind of thing at a time, that nothing of the
// cluster is left on the host.
func checkClusterGone(t *testing.T, st *skcluster.State, userConfig string) {
	t.Helper()
	if _, err := os.Stat(st.Dir); err == nil {
		t.Errorf("state dir %s still exists", st.Dir)
	}
	for _, n := range st.Nodes {
		if _, err := os.Stat("/run/netns/" + n.NetNS); err == nil {
			t.Errorf("netns %s still exists", n.NetNS)
		}
		if _, err := os.Stat("/sys/class/net/" + n.HostVeth); err == nil {
			t.Errorf("veth %s still exists", n.HostVeth)
		}
		if n.Agent.Alive() || n.Server.Alive() {
			t.Errorf("agent (pid %d) or server (pid %d) of %s still runs", n.Agent.PID, n.Server.PID, n.Name)
		}
	}
	if st.LoadBalancer.Alive() {
		t.Errorf("load balancer (pid %d) still runs", st.LoadBalancer.PID)
	}
	if _, err := os.Stat("/sys/class/net/" + st.Bridge); err == nil {
		t.Errorf("bridge %s still exists", st.Bridge)
	}
	if st.ServerProc.Alive() || st.Containerd.Alive() {
		t.Errorf("server (%d) or containerd (%d) still runs", st.ServerProc.PID, st.Containerd.PID)
	}
	// No process mentions the cluster's directory or socket (plugins,
	// shims), zombies aside.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil || len(data) == 0 {
			continue
		}
		if bytes.Contains(data, []byte(st.Dir)) {
			t.Errorf("process %s still runs: %s", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(data, []byte{0}, []byte{' '}))
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if bytes.Contains(mounts, []byte(st.Dir)) {
		t.Errorf("mounts under %s remain", st.Dir)
	}
	for _, n := range st.Nodes {
		if bytes.Contains(mounts, []byte("/run/netns/"+n.NetNS+" ")) {
			t.Errorf("netns mount of %s remains", n.NetNS)
		}
	}
	// The host has no rule or chain naming the cluster's links or subnet.
	for _, cmd := range [][]string{{"iptables-save"}, {"ip", "-4", "route", "show", "table", "all"}, {"ip", "-4", "addr"}} {
		out, err := exec.Command(cmd[0], cmd[1:]...).Output()
		if err != nil {
			t.Errorf("%s: %v", strings.Join(cmd, " "), err)
			continue
		}
		subnet := strings.TrimSuffix(st.BridgeIP, "1")
		if bytes.Contains(out, []byte(st.Bridge)) || bytes.Contains(out, []byte(subnet)) {
			t.Errorf("%s still mentions %s or %s*:\n%s", strings.Join(cmd, " "), st.Bridge, subnet, out)
		}
	}
	if data, err := os.ReadFile(userConfig); err == nil && bytes.Contains(data, []byte(skcluster.ContextName(st.Name))) {
		t.Errorf("client config still has context %s:\n%s", skcluster.ContextName(st.Name), data)
	}
}

// clusterTaskPIDs are the PIDs of every running container of the cluster's
// nodes.
func clusterTaskPIDs(t *testing.T, st *skcluster.State) []uint32 {
	t.Helper()
	c, err := containerd.New(st.ContainerdSocket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pids []uint32
	for _, n := range st.Nodes {
		ctx := namespaces.WithNamespace(context.Background(), n.RuntimeNamespace)
		ctrs, err := c.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ctr := range ctrs {
			if task, err := ctr.Task(ctx, nil); err == nil && task.Pid() > 0 {
				pids = append(pids, task.Pid())
			}
		}
	}
	return pids
}
