package containerdruntime

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// nsOfPID returns "ipc:[n] uts:[n] net:[n]" for a process, read from the
// host.
func nsOfPID(t *testing.T, pid int) string {
	t.Helper()
	var out []string
	for _, kind := range []string{"ipc", "uts", "net"} {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, link)
	}
	return strings.Join(out, " ")
}

// execOutput runs cmd in a running container and returns its stdout.
func execOutput(t *testing.T, r runtime.Runtime, id string, cmd ...string) string {
	t.Helper()
	// Two buffers: the streams are copied concurrently.
	var out, errOut bytes.Buffer
	code, err := r.Exec(testCtx(t), id, runtime.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 {
		t.Fatalf("exec %q: code %d, %v, output %q, %q", cmd, code, err, out.String(), errOut.String())
	}
	return out.String()
}

func sleeper(name string) runtime.ContainerConfig {
	return runtime.ContainerConfig{Name: name, Image: testRef, Command: []string{"sleep", "1000"}}
}

// TestSandboxNamespacesSurviveRestart: a container created by a new plugin
// instance joins the namespaces of one the old instance started.
func TestSandboxNamespacesSurviveRestart(t *testing.T) {
	env := newTestEnv(t)
	const ns = "skiff-ns-restart"
	ctx := testCtx(t)
	first := New()
	if err := first.Configure(ctx, env.config(ns)); err != nil {
		t.Fatal(err)
	}
	env.importImage(t, first)
	cfg := runtime.SandboxConfig{PodUID: "uid-ns-restart", Namespace: "default", Name: "ns-restart", Hostname: "persistent-host"}
	sb, err := first.RunPodSandbox(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSandboxWithFreshRuntime(t, env, ns, sb) })
	a := createAndStart(t, first, sb, sleeper("a"))
	stA := waitFor(t, first, a, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	first.Close()

	second := env.runtime(t, ns)
	if again, err := second.RunPodSandbox(ctx, cfg); err != nil || again != sb {
		t.Fatalf("RunPodSandbox after the restart = %q, %v; want %q", again, err, sb)
	}
	b := createAndStart(t, second, sb, sleeper("b"))
	stB := waitFor(t, second, b, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	if nsA, nsB := nsOfPID(t, stA.PID), nsOfPID(t, stB.PID); nsA != nsB {
		t.Errorf("container from before the restart is in %s, one from after in %s; want the same", nsA, nsB)
	}
	if got := execOutput(t, second, b, "hostname"); got != "persistent-host\n" {
		t.Errorf("hostname after the restart = %q", got)
	}
	other, err := second.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-ns-other", Namespace: "default", Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.RemovePodSandbox(context.Background(), other) })
	c := createAndStart(t, second, other, sleeper("c"))
	stC := waitFor(t, second, c, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	nsA, nsC := strings.Fields(nsOfPID(t, stA.PID)), strings.Fields(nsOfPID(t, stC.PID))
	for i := range nsA {
		if nsA[i] == nsC[i] {
			t.Errorf("containers of two sandboxes share %s", nsA[i])
		}
	}
}

// TestSandboxNamespacesAfterReboot: after a reboot the namespace files are
// there but no longer mounted; the next container gets new namespaces (with
// the hostname) that the following ones share.
func TestSandboxNamespacesAfterReboot(t *testing.T) {
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-ns-reboot")
	env.importImage(t, r)
	ctx := testCtx(t)
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-reboot", Namespace: "default", Name: "rebooted"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.RemovePodSandbox(context.Background(), sb) })
	dir := sandboxDir(env.config("").DataDir, sb)
	for _, k := range allNSKinds {
		if p := filepath.Join(dir, k.name); !isNamespaceFile(p) {
			t.Fatalf("%s is not a mounted namespace after RunPodSandbox", p)
		}
	}
	if !isMountPoint(filepath.Join(dir, shmName)) {
		t.Fatal("the sandbox's /dev/shm is not mounted after RunPodSandbox")
	}
	// The reboot: nothing runs, nothing is mounted, the files stay.
	for _, name := range []string{nsIPC.name, nsUTS.name, nsNet.name, shmName} {
		if err := unmountAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	a := createAndStart(t, r, sb, sleeper("a"))
	b := createAndStart(t, r, sb, sleeper("b"))
	stA := waitFor(t, r, a, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	stB := waitFor(t, r, b, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	if nsA, nsB := nsOfPID(t, stA.PID), nsOfPID(t, stB.PID); nsA != nsB {
		t.Errorf("after the reboot, two containers of the sandbox are in %s and %s", nsA, nsB)
	}
	for _, k := range allNSKinds {
		if p := filepath.Join(dir, k.name); !isNamespaceFile(p) {
			t.Errorf("%s was not made again", p)
		}
	}
	if !isMountPoint(filepath.Join(dir, shmName)) {
		t.Error("the sandbox's /dev/shm was not mounted again")
	}
	execOutput(t, r, a, "sh", "-c", "echo x > /dev/shm/x")
	if got := execOutput(t, r, b, "cat", "/dev/shm/x"); got != "x\n" {
		t.Errorf("after the reboot, /dev/shm is not shared: %q", got)
	}
	if got := execOutput(t, r, a, "hostname"); got != "rebooted\n" {
		t.Errorf("hostname after the reboot = %q, want the pod name", got)
	}
	if got := execOutput(t, r, a, "/bin/busybox", "ip", "link", "show", "lo"); !strings.Contains(got, "UP") {
		t.Errorf("the new network namespace's loopback is not up: %q", got)
	}
}

// TestRemovePodSandboxUnmountsNamespaces checks nothing of a removed
// sandbox stays mounted or on disk, and that only sandbox IDs name
// directories.
func TestRemovePodSandboxUnmountsNamespaces(t *testing.T) {
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-ns-remove")
	env.importImage(t, r)
	ctx := testCtx(t)
	netns := filepath.Join(t.TempDir(), "given-netns")
	if err := os.WriteFile(netns, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	// A sandbox whose network namespace is given keeps only IPC and UTS.
	withNet, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-given", Name: "given", NetNSPath: netns})
	if err != nil {
		t.Fatal(err)
	}
	own, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-own", Name: "own"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.RemovePodSandbox(context.Background(), withNet)
		r.RemovePodSandbox(context.Background(), own)
	})
	dataDir := env.config("").DataDir
	if _, err := os.Stat(filepath.Join(sandboxDir(dataDir, withNet), "net")); !os.IsNotExist(err) {
		t.Errorf("a sandbox with a given network namespace got one of its own too (%v)", err)
	}
	id := createAndStart(t, r, own, sleeper("running"))
	waitFor(t, r, id, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	for _, sb := range []string{withNet, own} {
		dir := sandboxDir(dataDir, sb)
		if len(mountsUnder(t, dir)) == 0 {
			t.Fatalf("nothing is mounted under %s", dir)
		}
		if err := r.RemovePodSandbox(ctx, sb); err != nil {
			t.Fatalf("RemovePodSandbox: %v", err)
		}
		if m := mountsUnder(t, dir); len(m) != 0 {
			t.Errorf("after RemovePodSandbox, still mounted: %v", m)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("after RemovePodSandbox, %s is still there (%v)", dir, err)
		}
	}
	outside := filepath.Join(dataDir, "keep")
	if err := os.MkdirAll(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := r.RemovePodSandbox(ctx, "../keep"); err != nil {
		t.Errorf("RemovePodSandbox of a made-up ID: %v", err)
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("RemovePodSandbox(\"../keep\") touched %s: %v", outside, err)
	}
}

// TestPortForwardAfterRestart: a new plugin instance forwards into a
// sandbox an old one made.
func TestPortForwardAfterRestart(t *testing.T) {
	env := newTestEnv(t)
	const ns = "skiff-pf-restart"
	ctx := testCtx(t)
	first := New()
	if err := first.Configure(ctx, env.config(ns)); err != nil {
		t.Fatal(err)
	}
	env.importImage(t, first)
	sb, err := first.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-pf", Name: "pf"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSandboxWithFreshRuntime(t, env, ns, sb) })
	createAndStart(t, first, sb, runtime.ContainerConfig{Name: "echo", Image: testRef,
		Command: []string{"/bin/busybox", "nc", "-ll", "-p", "7000", "-e", "/bin/cat"}})
	first.Close()

	second := env.runtime(t, ns)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out bytes.Buffer
		err := second.PortForward(ctx, sb, 7000, &halfClosingStream{in: strings.NewReader("ping\n"), out: &out})
		if err == nil && out.String() == "ping\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PortForward after a restart: %v, echo %q", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// halfClosingStream sends in, then EOF, and collects what comes back.
type halfClosingStream struct {
	in  *strings.Reader
	out *bytes.Buffer
}

func (s *halfClosingStream) Read(p []byte) (int, error)  { return s.in.Read(p) }
func (s *halfClosingStream) Write(p []byte) (int, error) { return s.out.Write(p) }

// TestEnsureNamespacesLeavesNoThreadBehind checks the thread that makes the
// namespaces goes back to the process's: every thread is in the process's
// own namespaces afterwards, and the files are namespaces of their own.
func TestEnsureNamespacesLeavesNoThreadBehind(t *testing.T) {
	EnvRequireRoot(t)
	dir := filepath.Join(t.TempDir(), "sb")
	t.Cleanup(func() {
		for _, k := range allNSKinds {
			if err := unmountAll(filepath.Join(dir, k.name)); err != nil {
				t.Error(err)
			}
		}
	})
	for range 5 {
		if err := ensureNamespaces(dir, "made-here", allNSKinds); err != nil {
			t.Fatal(err)
		}
		for _, k := range allNSKinds {
			unmountAll(filepath.Join(dir, k.name)) // make them again next round
		}
	}
	if err := ensureNamespaces(dir, "made-here", allNSKinds); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range allNSKinds {
		own, err := os.Readlink("/proc/self/ns/" + k.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			link, err := os.Readlink(fmt.Sprintf("/proc/self/task/%s/ns/%s", task.Name(), k.name))
			if err == nil && link != own {
				t.Errorf("thread %s is in %s, not the process's %s", task.Name(), link, own)
			}
		}
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, k.name), &st); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%s:[%d]", k.name, st.Ino) == own {
			t.Errorf("the sandbox's %s namespace is the process's own", k.name)
		}
	}
}

// TestTeardownNode: sandboxes left behind (the plugin was killed before
// anyone removed them) are unmounted by TeardownNode.
func TestTeardownNode(t *testing.T) {
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-teardown")
	ctx := testCtx(t)
	for _, uid := range []string{"left-1", "left-2"} {
		if _, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: uid, Name: uid}); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := env.config("").DataDir
	if len(mountsUnder(t, dataDir)) != 8 {
		t.Fatalf("two sandboxes have %d mounts under %s, want 8: %v", len(mountsUnder(t, dataDir)), dataDir, mountsUnder(t, dataDir))
	}
	if err := TeardownNode(dataDir); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(t, dataDir); len(m) != 0 {
		t.Errorf("after TeardownNode, still mounted: %v", m)
	}
	if err := TeardownNode(dataDir); err != nil {
		t.Errorf("TeardownNode again: %v", err)
	}
	// The records are still there; removing them finds nothing to unmount.
	sbs, err := r.ListSandboxes(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range sbs {
		if err := r.RemovePodSandbox(ctx, sb.ID); err != nil {
			t.Errorf("RemovePodSandbox after TeardownNode: %v", err)
		}
	}
}
