package e2e

import (
	"context"
	"errors"
	"fmt"
	"github.com/skiffhq/skiff/test/testenv"
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
)

// processGone reports whether pid has exited and been reaped.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// pluginRow is the `plugin ls -o wide` row of a kind, split in fields
// (NODE KIND NAME VERSION API PID RESTARTS HEALTHY SINCE PATH MESSAGE...).
func (c *cluster) pluginRow(kind string) []string {
	out, _, _ := c.ctl("plugin", "ls", "-o", "wide", "--no-headers")
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 9 && f[1] == kind {
			return f
		}
	}
	return nil
}

// `skiffctl plugin reload` replaces a plugin's process without touching the
// pods: the runtime plugin while a pod runs (same container PID, RESTARTS
// 0, a new plugin PID), and the scheduler, which then still schedules. No
// plugin process survives skiffd.
func TestPluginReloadKeepsContainersRunning(t *testing.T) {
	c := startCluster(t)
	c.runSleeper("steady")
	before := containerPIDs(t, c.containerd)
	if len(before) != 1 {
		t.Fatalf("expected one running container, found %v", before)
	}
	seen := map[int]bool{}
	for _, pid := range c.pluginPIDs() {
		seen[pid] = true
	}
	oldRuntime := c.pluginPIDs()["runtime"]
	out := c.mustCtl("plugin", "reload", "runtime")
	m := regexp.MustCompile(`runtime plugin runtime-containerd \S+ reloaded on skiff-e2e: pid (\d+) \(was (\d+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("plugin reload runtime printed %q", out)
	}
	newRuntime, _ := strconv.Atoi(m[1])
	if was, _ := strconv.Atoi(m[2]); was != oldRuntime || newRuntime == oldRuntime {
		t.Fatalf("reload: new pid %d, was %d; plugin ls had %d", newRuntime, was, oldRuntime)
	}
	seen[newRuntime] = true
	if !processGone(oldRuntime) {
		t.Errorf("the old runtime plugin process %d is still there after the reload", oldRuntime)
	}
	c.waitFor("plugin ls shows the new runtime plugin", 10*time.Second, func() (bool, string) {
		row := c.pluginRow("runtime")
		return row != nil && row[5] == strconv.Itoa(newRuntime) && row[6] == "0" && row[7] == "true", strings.Join(row, " ")
	})
	// Give the agent a few sync periods to do anything wrong.
	time.Sleep(3 * time.Second)
	if after := containerPIDs(t, c.containerd); !maps.Equal(before, after) {
		t.Errorf("containers changed across the runtime plugin reload: before %v, after %v", before, after)
	}
	if rows := c.mustCtl("get", "pod", "steady", "--no-headers"); !regexp.MustCompile(`steady\s+1/1\s+Running\s+0\s`).MatchString(rows) {
		t.Errorf("pod after the runtime reload: %s", rows)
	}
	// The reloaded runtime serves the agent: logs go through it.
	c.mustCtl("logs", "steady")

	oldScheduler := c.pluginPIDs()["scheduler"]
	out = c.mustCtl("plugin", "reload", "scheduler")
	if !strings.Contains(out, "scheduler plugin binpack") || !strings.Contains(out, fmt.Sprintf("(was %d)", oldScheduler)) {
		t.Errorf("plugin reload scheduler printed %q", out)
	}
	// The scheduler got the cluster replayed into it: a new pod is placed.
	c.runSleeper("after-reload")

	if _, errOut, err := c.ctl("plugin", "reload", "bogus"); err == nil || !strings.Contains(errOut, `unknown plugin kind "bogus"`) {
		t.Errorf("reload of an unknown kind: %v, %s", err, errOut)
	}
	for _, pid := range c.pluginPIDs() {
		seen[pid] = true
	}
	c.mustCtl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
	c.stop()
	for pid := range seen {
		if !processGone(pid) {
			t.Errorf("plugin process %d outlived skiffd", pid)
		}
	}
}

// `skiffctl plugin logs KIND` prints a plugin's log, from the node's agent
// or from the server; --tail and -f work.
func TestPluginLogs(t *testing.T) {
	c := startCluster(t)
	for _, kind := range []string{"runtime", "network", "volumes", "probes", "scheduler"} {
		out := c.mustCtl("plugin", "logs", kind)
		if !strings.Contains(out, kind) {
			t.Errorf("plugin logs %s has nothing about the plugin:\n%s", kind, tail(out, 10))
		}
	}
	if out := c.mustCtl("plugin", "logs", "runtime", "--tail", "2"); strings.Count(out, "\n") != 2 {
		t.Errorf("plugin logs --tail 2 printed %d lines:\n%s", strings.Count(out, "\n"), out)
	}
	if out := c.mustCtl("plugin", "logs", "runtime", "--node", "skiff-e2e", "--tail", "1"); strings.Count(out, "\n") != 1 {
		t.Errorf("plugin logs --node --tail 1:\n%s", out)
	}
	// -f keeps streaming: a pod's start makes the runtime plugin log more.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, filepath.Join(binDir, "skiffctl"), "--config", c.config, "plugin", "logs", "runtime", "-f", "--tail", "0")
	var buf testenv.SyncBuffer
	follow.Stdout, follow.Stderr = &buf, &buf
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	c.mustCtl("plugin", "reload", "runtime") // the new process logs its start
	c.waitFor("followed log lines", 30*time.Second, func() (bool, string) {
		return strings.Count(buf.String(), "\n") > 0, buf.String()
	})
	cancel()
	_ = follow.Wait()

	for _, tc := range []struct{ args, want string }{
		{"plugin logs bogus", `unknown plugin kind "bogus"`},
		{"plugin logs runtime --node nope", `"nope" not found`},
		{"plugin logs scheduler --node skiff-e2e", "runs on the server"},
	} {
		_, errOut, err := c.ctl(strings.Fields(tc.args)...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: %v, stderr %q; want an error saying %q", tc.args, err, errOut, tc.want)
		}
	}
}

// spreadBinary is the example spread scheduler: from the bin dir (make
// build puts it there), else built for the test.
func spreadBinary(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(binDir, "skiff-scheduler-spread"); fileExists(p) {
		return p
	}
	out := filepath.Join(t.TempDir(), "skiff-scheduler-spread")
	cmd := exec.Command("go", "build", "-o", out, "github.com/skiffhq/skiff/examples/scheduler-spread")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the spread scheduler: %v\n%s", err, msg)
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// A config file's profile picks the scheduler plugin (the spread example)
// and its settings; plugin settings are checked against what the plugin
// declares, and errors name the profile, the kind and the setting.
func TestPluginProfileSelectsTheSpreadScheduler(t *testing.T) {
	spread := spreadBinary(t)
	cfg := filepath.Join(t.TempDir(), "skiffd.yaml")
	writeFile(t, cfg, fmt.Sprintf(`pluginDir: %s
profiles:
  dev:
    scheduler: {binary: %s, settings: {score: fewest-pods}}
  prod:
    scheduler: {binary: skiff-scheduler-binpack}
  broken:
    scheduler: {binary: %s, settings: {colour: blue}}
`, binDir, spread, spread))

	// Errors come before anything runs.
	for _, tc := range []struct {
		profile string
		want    []string
	}{
		{"broken", []string{`profile "broken" in ` + cfg + `: scheduler plugin spread`, `setting "colour": unknown (the plugin accepts score)`}},
		{"staging", []string{`profile "staging" does not exist (profiles: broken, dev, prod)`}},
	} {
		out := failingSkiffd(t, "--config", cfg, "--profile", tc.profile)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("skiffd with profile %s: output lacks %q:\n%s", tc.profile, w, tail(out, 15))
			}
		}
	}

	c := startCluster(t, "--config", cfg, "--profile", "dev")
	row := c.pluginRow("scheduler")
	if row == nil || row[2] != "spread" || row[7] != "true" || row[9] != spread {
		t.Fatalf("plugin ls scheduler row: %v, want the healthy spread scheduler at %s", row, spread)
	}
	// Kinds the profile does not name run the defaults.
	if row := c.pluginRow("runtime"); row == nil || row[2] != "runtime-containerd" {
		t.Errorf("runtime row: %v", row)
	}
	c.runSleeper("spread-1")
	if events := c.mustCtl("get", "events"); !strings.Contains(events, "Successfully assigned default/spread-1 to skiff-e2e") {
		t.Errorf("no Scheduled event from the spread scheduler:\n%s", events)
	}
	if out := c.mustCtl("plugin", "logs", "scheduler"); !strings.Contains(out, "spread") {
		t.Errorf("scheduler log does not mention the spread plugin:\n%s", tail(out, 10))
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// failingSkiffd runs `skiffd dev` with args, expects it to exit with an
// error within a minute, and returns what it printed.
func failingSkiffd(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dataDir := t.TempDir()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "skiffd"), append([]string{"dev",
		"--data-dir", dataDir, "--listen", freeLoopbackAddr(t), "--no-user-config", "--node-name", "skiff-e2e",
		"--containerd-socket", filepath.Join(dataDir, "none.sock"), "--pod-bridge", testBridge, "--cluster-cidr", testClusterCIDR}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("skiffd %v: %v (want it to fail at start):\n%s", args, err, tail(string(out), 20))
	}
	return string(out)
}

// A plugin that crash-loops is marked unhealthy, in `plugin ls` and in the
// node's PluginsHealthy condition, while the node keeps running its pods;
// a reload clears it.
func TestPluginCrashLoopIsShownAndTheNodeKeepsWorking(t *testing.T) {
	c := startCluster(t)
	c.runSleeper("steady")
	before := containerPIDs(t, c.containerd)
	// Kill the volumes plugin five times as soon as it is back: the fifth
	// restart within a minute is a crash loop.
	last := 0
	for i := range 5 {
		var pid int
		c.waitFor(fmt.Sprintf("volumes plugin up (kill %d)", i+1), 40*time.Second, func() (bool, string) {
			pid = c.pluginPIDs()["volumes"]
			return pid != 0 && pid != last, c.mustCtl("plugin", "ls")
		})
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill volumes plugin %d: %v", pid, err)
		}
		last = pid
	}
	row := c.waitFor("volumes plugin marked as crash-looping", 60*time.Second, func() (bool, string) {
		row := c.pluginRow("volumes")
		return row != nil && row[7] == "false" && strings.Contains(strings.Join(row, " "), "crash loop"), strings.Join(row, " ")
	})
	t.Logf("plugin ls: %s", row)
	cond := func() string {
		return c.jsonpath("node/skiff-e2e", `{.status.conditions[?(@.type=="PluginsHealthy")].status} {.status.conditions[?(@.type=="PluginsHealthy")].message}`)
	}
	got := c.waitFor("node condition PluginsHealthy=False", 40*time.Second, func() (bool, string) {
		s := cond()
		return strings.HasPrefix(s, "False ") && strings.Contains(s, "volumes is crash-looping"), s
	})
	t.Logf("node condition: %s", got)
	if out := c.mustCtl("get", "nodes", "--no-headers"); !strings.Contains(out, " Ready ") {
		t.Errorf("the node is not Ready while one plugin crash-loops: %s", out)
	}
	if after := containerPIDs(t, c.containerd); !maps.Equal(before, after) {
		t.Errorf("containers changed while a plugin crash-looped: before %v, after %v", before, after)
	}
	// The rest of the node keeps working: a new pod starts.
	c.runSleeper("during-crash-loop")

	// Reloading (say, a fixed build) clears the mark.
	c.mustCtl("plugin", "reload", "volumes")
	c.waitFor("volumes plugin healthy after reload", 20*time.Second, func() (bool, string) {
		row := c.pluginRow("volumes")
		return row != nil && row[7] == "true", strings.Join(row, " ")
	})
	c.waitFor("node condition PluginsHealthy=True", 40*time.Second, func() (bool, string) {
		s := cond()
		return strings.HasPrefix(s, "True "), s
	})
}

// The raw-exec example runtime, selected by a profile, runs a pod's
// containers as host processes: the pod runs, logs and exec work, and
// deleting it stops the process.
func TestPluginProfileRunsTheRawExecExample(t *testing.T) {
	rawexec := filepath.Join(binDir, "skiff-runtime-rawexec")
	if !fileExists(rawexec) {
		rawexec = filepath.Join(t.TempDir(), "skiff-runtime-rawexec")
		if msg, err := exec.Command("go", "build", "-o", rawexec, "github.com/skiffhq/skiff/examples/runtime-rawexec").CombinedOutput(); err != nil {
			t.Fatalf("build the rawexec runtime: %v\n%s", err, msg)
		}
	}
	cfg := filepath.Join(t.TempDir(), "skiffd.yaml")
	writeFile(t, cfg, fmt.Sprintf("profiles:\n  noisolation:\n    runtime: {binary: %s}\n", rawexec))
	c := startCluster(t, "--config", cfg, "--profile", "noisolation")
	if row := c.pluginRow("runtime"); row == nil || row[2] != "rawexec" || row[7] != "true" {
		t.Fatalf("runtime row: %v", row)
	}
	c.apply(`apiVersion: v1
kind: Pod
metadata: {name: hostproc}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: rawexec/host
    command: [sh, -c, 'echo "started in $(pwd)"; exec sleep 3600']
`)
	c.waitPodPhase("hostproc", "Running", 60*time.Second)
	logs := c.waitFor("log line", 20*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("logs", "hostproc")
		return strings.Contains(out, "started in "+c.dataDir), out
	})
	t.Logf("logs: %s", logs)
	out := c.mustCtl("exec", "hostproc", "--", "sh", "-c", "echo exec-ok")
	if strings.TrimSpace(out) != "exec-ok" {
		t.Errorf("exec printed %q", out)
	}
	// The container is a host process in the pod's sandbox directory
	// (under the cluster's data dir): find it, then see it go with the pod.
	ours := func() []int {
		var pids []int
		out, _ := exec.Command("pgrep", "-x", "sleep").Output()
		for _, p := range strings.Fields(string(out)) {
			pid, _ := strconv.Atoi(p)
			if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && strings.HasPrefix(cwd, c.dataDir) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	pids := ours()
	if len(pids) != 1 {
		t.Fatalf("host processes of the pod: %v, want one sleep in its sandbox directory", pids)
	}
	t.Logf("the pod's container is host process %d", pids[0])
	c.mustCtl("delete", "pod", "hostproc", "--grace-period=5")
	c.waitFor("the pod's process gone", 20*time.Second, func() (bool, string) {
		return processGone(pids[0]), fmt.Sprint(ours())
	})
}
