package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Images come through a real registry on loopback, with kubelet's pull
// policies, reasons and events; a missing image ends in ImagePullBackOff
// with the registry's error in the events, as in the chapter's nginx-1.
func TestImagePullsFromALocalRegistry(t *testing.T) {
	registry := startRegistry(t)
	c := startCluster(t, "--insecure-registry", registry)
	image := registry + "/skiff/busybox:1.0"
	pushTestImage(t, c.containerd, image)

	c.mustCtl("run", "pulled", "--image="+image, "--", "sleep", "3600")
	c.waitPodPhase("pulled", "Running", 90*time.Second)
	if desc := c.describe("pulled"); !strings.Contains(desc, fmt.Sprintf("Successfully pulled image %q", image)) {
		t.Errorf("describe shows no pull:\n%s", desc)
	}

	c.mustCtl("run", "never", "--image="+registry+"/skiff/absent:1.0", "--image-pull-policy=Never", "--", "true")
	c.waitFor("ErrImageNeverPull", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "never", "--no-headers")
		return strings.Contains(out, "ErrImageNeverPull"), out
	})

	missing := registry + "/nginx-1"
	c.mustCtl("run", "nginx-1", "--image="+missing)
	c.waitFor("ImagePullBackOff", 60*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "nginx-1", "--no-headers")
		return regexp.MustCompile(`nginx-1\s+0/1\s+ImagePullBackOff\s+0`).MatchString(out), out
	})
	desc := c.describe("nginx-1")
	for _, want := range []string{
		fmt.Sprintf("Failed to pull image %q", missing), "not found",
		"Error: ErrImagePull", fmt.Sprintf("Back-off pulling image %q", missing), "Error: ImagePullBackOff",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe nginx-1 lacks %q:\n%s", want, desc)
		}
	}
}

// Init containers run one at a time, in order, each to success, before the
// app container; STATUS shows their progress as kubectl does.
func TestInitContainersRunInOrder(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: inits
spec:
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: first
    image: %[1]s
    command: ["sh", "-c", "echo one >> /work/log; sleep 2"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: %[1]s
    command: ["sh", "-c", "echo two >> /work/log; sleep 2"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "cat /work/log; exec sleep 3600"]
    volumeMounts: [{name: work, mountPath: /work}]
`, testImage))
	seen := map[string]bool{}
	c.waitFor("pod Running after its init containers", 90*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "inits", "--no-headers")
		if f := strings.Fields(out); len(f) > 2 {
			seen[f[2]] = true
		}
		return strings.Contains(out, "Running"), out
	})
	if !seen["Init:0/2"] || !seen["Init:1/2"] {
		t.Errorf("STATUS never showed Init:0/2 and Init:1/2; saw %v", seen)
	}
	c.waitFor("app log", 20*time.Second, func() (bool, string) {
		logs, _, _ := c.ctl("logs", "inits", "-c", "app")
		return logs == "one\ntwo\n", logs
	})

	// A failing init container with restartPolicy Never fails the pod.
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: badinit
spec:
  restartPolicy: Never
  initContainers:
  - name: check
    image: %[1]s
    command: ["sh", "-c", "exit 1"]
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
`, testImage))
	c.waitPodPhase("badinit", "Failed", 60*time.Second)
	if out := c.mustCtl("get", "pod", "badinit", "--no-headers"); !regexp.MustCompile(`badinit\s+0/1\s+Init:Error\s+0`).MatchString(out) {
		t.Errorf("get pod badinit: %s", out)
	}
}

// A crashing container is restarted with back-off into CrashLoopBackOff;
// RESTARTS counts, lastState keeps the exit, and logs --previous shows the
// instance before.
func TestCrashLoopBackOffAndPreviousLogs(t *testing.T) {
	c := startCluster(t)
	c.mustCtl("run", "crasher", "--image="+testImage, "--", "sh", "-c", "echo attempt-$(date +%s%N); exit 3")
	c.waitFor("CrashLoopBackOff with restarts", 90*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "crasher", "--no-headers")
		m := regexp.MustCompile(`crasher\s+0/1\s+CrashLoopBackOff\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			return false, out
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 2, out
	})
	if code := c.jsonpath("pod/crasher", "{.status.containerStatuses[0].lastState.terminated.exitCode}"); code != "3" {
		t.Errorf("lastState exit code %q, want 3", code)
	}
	cur, _, err := c.ctl("logs", "crasher")
	if err != nil {
		t.Fatal(err)
	}
	prev := c.mustCtl("logs", "crasher", "--previous")
	if !strings.HasPrefix(prev, "attempt-") || !strings.HasPrefix(cur, "attempt-") || prev == cur {
		t.Errorf("logs --previous %q and logs %q should be two different attempts", prev, cur)
	}
	if desc := c.describe("crasher"); !strings.Contains(desc, "Back-off restarting failed container") {
		t.Errorf("describe shows no BackOff event:\n%s", desc)
	}
}

// A container over its memory limit is OOMKilled; limits reach the cgroup.
func TestMemoryLimitOOMKillsAndLimitsReachCgroups(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: %s
    command: ["sh", "-c", "head -c 200m /dev/zero | tail"]
    resources:
      limits: {memory: 20Mi}
`, testImage))
	c.waitPodPhase("hog", "Failed", 90*time.Second)
	if reason := c.jsonpath("pod/hog", "{.status.containerStatuses[0].state.terminated.reason}"); reason != "OOMKilled" {
		t.Errorf("reason %q, want OOMKilled", reason)
	}
	if out := c.mustCtl("get", "pod", "hog", "--no-headers"); !regexp.MustCompile(`hog\s+0/1\s+OOMKilled\s+0`).MatchString(out) {
		t.Errorf("get pod hog: %s", out)
	}

	c.apply(podManifest("limited", "exec sleep 3600"))
	c.waitPodPhase("limited", "Running", 60*time.Second)
	pids := containerPIDs(t, c.containerd)
	if len(pids) != 1 {
		t.Fatalf("want one running container, found %v", pids)
	}
	for _, pid := range pids {
		if got := cgroupValue(t, pid, "memory", "memory.limit_in_bytes"); got != strconv.Itoa(64<<20) {
			t.Errorf("memory limit in the cgroup = %s, want %d (64Mi)", got, 64<<20)
		}
		if got := cgroupValue(t, pid, "cpu", "cpu.cfs_quota_us"); got != "20000" {
			t.Errorf("cpu quota in the cgroup = %s, want 20000 (200m of a 100ms period)", got)
		}
	}
}

// cgroupValue reads a cgroup v1 file of the process's cgroup in a
// controller, from the host.
func cgroupValue(t *testing.T, pid uint32, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			if ctrl == controller {
				v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[1], parts[2], file))
				if err != nil {
					t.Fatalf("read %s of pid %d: %v", file, pid, err)
				}
				return strings.TrimSpace(string(v))
			}
		}
	}
	t.Fatalf("pid %d has no %s cgroup:\n%s", pid, controller, data)
	return ""
}

// Deleting a pod sends SIGTERM, shows Terminating, and kills after the
// grace period a container that ignores it.
func TestGracefulDeletion(t *testing.T) {
	c := startCluster(t)
	c.mustCtl("run", "polite", "--image="+testImage, "--", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	c.mustCtl("run", "stubborn", "--image="+testImage, "--", "sh", "-c", "trap '' TERM; while true; do sleep 1; done")
	c.waitPodPhase("polite", "Running", 60*time.Second)
	c.waitPodPhase("stubborn", "Running", 60*time.Second)

	c.mustCtl("delete", "pod", "stubborn", "--grace-period=4", "--wait=false")
	if out, _, _ := c.ctl("get", "pod", "stubborn", "--no-headers"); !strings.Contains(out, "Terminating") {
		t.Errorf("a pod being deleted should show Terminating: %s", out)
	}
	start := time.Now()
	c.mustCtl("delete", "pod", "polite", "--grace-period=30")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("a container that exits on SIGTERM took %v to delete", took)
	}
	c.waitFor("stubborn pod killed after its grace period", 30*time.Second, func() (bool, string) {
		_, errOut, err := c.ctl("get", "pod", "stubborn")
		return err != nil && strings.Contains(errOut, "not found"), errOut
	})
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("a container ignoring SIGTERM was gone after %v, before its 4s grace period", took)
	}

	c.mustCtl("run", "forced", "--image="+testImage, "--", "sleep", "3600")
	c.waitPodPhase("forced", "Running", 60*time.Second)
	out, errOut, err := c.ctl("delete", "pod", "forced", "--grace-period=0", "--force")
	if err != nil || !strings.Contains(errOut, "Immediate deletion does not wait") || !strings.Contains(out, `pod "forced" force deleted`) {
		t.Errorf("force delete: %v\n%s%s", err, out, errOut)
	}
	c.waitFor("force-deleted pod's container removed", 30*time.Second, func() (bool, string) {
		n := len(containerPIDs(t, c.containerd))
		return n == 0, fmt.Sprintf("%d containers still run", n)
	})
}
