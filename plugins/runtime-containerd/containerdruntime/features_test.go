package containerdruntime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// Tests of what the conformance suite leaves to the implementation: cgroup
// limits, OOM kills, network namespaces, TTY logging.

// featureEnv is a configured Runtime with the test image and a sandbox.
func featureEnv(t *testing.T, ns string, sbCfg runtime.SandboxConfig) (*Runtime, string) {
	t.Helper()
	env := newTestEnv(t)
	r := env.runtime(t, ns)
	env.importImage(t, r)
	if sbCfg.PodUID == "" {
		sbCfg.PodUID = "uid-" + ns
	}
	sbCfg.Namespace, sbCfg.Name = "default", ns
	sb, err := r.RunPodSandbox(testCtx(t), sbCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.RemovePodSandbox(testCtx(t), sb); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return r, sb
}

func exited(st runtime.ContainerStatus) bool  { return st.State == runtime.StateExited }
func running(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning }

func TestOOMKilled(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.oom_control"); err != nil {
		if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
			skipOutsideCI(t, "no memory cgroup controller: %v", err)
		}
	}
	r, sb := featureEnv(t, "skiff-oom", runtime.SandboxConfig{})
	// tail of a file without newlines keeps all of it in memory.
	id := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "hog", Image: testRef, Command: []string{"tail", "/dev/zero"},
		Resources: runtime.ContainerResources{MemoryLimitBytes: 32 << 20},
		LogPath:   filepath.Join(t.TempDir(), "hog.log"),
	})
	st := waitFor(t, r, id, exited)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Fatalf("a container over its memory limit ended %+v, want OOMKilled with code 137", st)
	}
	// A container that fails on its own is not OOMKilled.
	id = createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "fails", Image: testRef, Command: []string{"false"},
		Resources: runtime.ContainerResources{MemoryLimitBytes: 32 << 20},
		LogPath:   filepath.Join(t.TempDir(), "fails.log"),
	})
	if st := waitFor(t, r, id, exited); st.Reason != "Error" {
		t.Errorf("false ended with reason %q, want Error", st.Reason)
	}
}

func TestCgroupLimits(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		skipOutsideCI(t, "reads cgroup v1 files; this host has cgroup v2")
	}
	const ns = "skiff-cgroups"
	r, sb := featureEnv(t, ns, runtime.SandboxConfig{})
	id := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "limited", Image: testRef, Command: []string{"sleep", "1000"},
		Resources: runtime.ContainerResources{CPUShares: 256, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimitBytes: 64 << 20},
		LogPath:   filepath.Join(t.TempDir(), "limited.log"),
	})
	waitFor(t, r, id, running)
	for file, want := range map[string]string{
		"memory/" + ns + "/" + id + "/memory.limit_in_bytes": fmt.Sprint(64 << 20),
		"cpu/" + ns + "/" + id + "/cpu.shares":               "256",
		"cpu/" + ns + "/" + id + "/cpu.cfs_quota_us":         "50000",
		"cpu/" + ns + "/" + id + "/cpu.cfs_period_us":        "100000",
	} {
		data, err := os.ReadFile("/sys/fs/cgroup/" + file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if got := strings.TrimSpace(string(data)); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
}

// netnsInode is the inode of a network namespace file, as
// /proc/<pid>/ns/net shows it: "net:[<inode>]".
func netnsInode(t *testing.T, path string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// newNetNS makes a named network namespace pinned at a file, the way the
// network plugin hands one over, and removes it when the test ends.
func newNetNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unshare", "--net="+path, "true").CombinedOutput(); err != nil {
		skipOutsideCI(t, "cannot make a network namespace with unshare: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", path, err)
		}
	})
	return path
}

func TestContainersJoinTheSandboxNetNS(t *testing.T) {
	netns := newNetNS(t)
	r, sb := featureEnv(t, "skiff-netns", runtime.SandboxConfig{NetNSPath: netns})
	id := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "net", Image: testRef, Command: []string{"/bin/busybox", "readlink", "/proc/self/ns/net"},
		LogPath: filepath.Join(t.TempDir(), "net.log"),
	})
	waitFor(t, r, id, exited)
	if got, want := strings.TrimSpace(readLogs(t, r, id, runtime.LogOptions{TailLines: -1})), netnsInode(t, netns); got != want {
		t.Errorf("container's network namespace %s, want the sandbox's %s", got, want)
	}
}

func TestContainersWithoutNetNSAreNotOnTheHostNetwork(t *testing.T) {
	r, sb := featureEnv(t, "skiff-nonetns", runtime.SandboxConfig{})
	id := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "net", Image: testRef, Command: []string{"/bin/busybox", "readlink", "/proc/self/ns/net"},
		LogPath: filepath.Join(t.TempDir(), "net.log"),
	})
	waitFor(t, r, id, exited)
	got := strings.TrimSpace(readLogs(t, r, id, runtime.LogOptions{TailLines: -1}))
	if host := netnsInode(t, "/proc/self/ns/net"); got == host || !strings.HasPrefix(got, "net:[") {
		t.Errorf("container's network namespace %q; want a new one, not the host's %s", got, host)
	}
}

func TestTTYContainerLogs(t *testing.T) {
	r, sb := featureEnv(t, "skiff-tty", runtime.SandboxConfig{})
	id := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "tty", Image: testRef, TTY: true,
		Command: []string{"sh", "-c", `[ -t 1 ] && echo is-a-tty; echo to-stderr >&2`},
		LogPath: filepath.Join(t.TempDir(), "tty.log"),
	})
	st := waitFor(t, r, id, exited)
	got := readLogs(t, r, id, runtime.LogOptions{Follow: true, TailLines: -1})
	// A terminal turns "\n" into "\r\n" and merges stderr into its output.
	if got != "is-a-tty\r\nto-stderr\r\n" {
		t.Errorf("logs of a TTY container = %q", got)
	}
	data, _ := os.ReadFile(st.LogPath)
	if strings.Contains(string(data), " stderr ") {
		t.Errorf("a TTY container's log has stderr records:\n%s", data)
	}
}

func TestStartFailureIsReported(t *testing.T) {
	r, sb := featureEnv(t, "skiff-startfail", runtime.SandboxConfig{})
	ctx := testCtx(t)
	id, err := r.CreateContainer(ctx, sb, runtime.ContainerConfig{
		Name: "nope", Image: testRef, Command: []string{"/no/such/binary"},
		LogPath: filepath.Join(t.TempDir(), "nope.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err == nil {
		t.Fatal("StartContainer of a missing binary succeeded")
	}
	st, err := r.ContainerStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 128 || st.Reason != "StartError" || !strings.Contains(st.Message, "no such") {
		t.Errorf("status after a failed start = %+v, want exited 128, StartError, with the error", st)
	}
	if err := r.StartContainer(ctx, id); err == nil {
		t.Error("starting a container that already failed to start succeeded")
	}
}

func TestReservedLabelsAreRefused(t *testing.T) {
	r, sb := featureEnv(t, "skiff-labels", runtime.SandboxConfig{})
	_, err := r.CreateContainer(testCtx(t), sb, runtime.ContainerConfig{
		Name: "bad", Image: testRef, Labels: map[string]string{labelPrefix + "name": "x"},
	})
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("CreateContainer with a reserved label: %v, want a refusal", err)
	}
}

// skipOutsideCI skips a test the machine cannot run, except in CI, where
// the machine is expected to provide it and the test fails instead.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}
