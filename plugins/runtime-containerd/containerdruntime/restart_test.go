package containerdruntime

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// TestRestartAdoptsContainers simulates a plugin restart: one Runtime
// starts containers and goes away (Close, as if its process died); new
// Runtimes on the same containerd must list them, report them, and find
// their exits, while the logs keep being written with no plugin at all.
func TestRestartAdoptsContainers(t *testing.T) {
	env := newTestEnv(t)
	const ns = "skiff-restart"
	ctx := testCtx(t)
	labels := map[string]string{"test": "restart"}

	first := New()
	if err := first.Configure(ctx, env.config(ns)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	env.importImage(t, first)
	sb, err := first.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-restart", Namespace: "default", Name: "restart", Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSandboxWithFreshRuntime(t, env, ns, sb) })
	logDir := t.TempDir()
	ticker := createAndStart(t, first, sb, runtime.ContainerConfig{
		Name: "ticker", Image: testRef, Labels: labels, LogPath: logDir + "/ticker.log",
		Command: []string{"sh", "-c", `i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done`},
	})
	exiter := createAndStart(t, first, sb, runtime.ContainerConfig{
		Name: "exiter", Image: testRef, Labels: labels, LogPath: logDir + "/exiter.log",
		Command: []string{"sh", "-c", `sleep 1; echo bye; exit 5`},
	})
	before := waitFor(t, first, ticker, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateRunning })
	waitForLog(t, logDir+"/ticker.log", "tick 3")

	// The plugin dies. The containers, their log drivers and containerd
	// carry on without it.
	first.Close()
	size := fileSize(t, logDir+"/ticker.log")
	time.Sleep(1500 * time.Millisecond) // the exiter exits meanwhile
	if grown := fileSize(t, logDir+"/ticker.log"); grown <= size {
		t.Fatalf("ticker.log stayed at %d bytes with no plugin running: logs depend on the plugin process", size)
	}

	second := env.runtime(t, ns)
	list, err := second.ListContainers(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]runtime.ContainerStatus{}
	for _, st := range list {
		byName[st.Name] = st
	}
	if st := byName["ticker"]; st.ID != ticker || st.State != runtime.StateRunning || st.PID != before.PID || !st.StartedAt.Equal(before.StartedAt) {
		t.Errorf("after the restart, ticker is %+v; want the same running container (pid %d, started %v)", st, before.PID, before.StartedAt)
	}
	if st := byName["exiter"]; st.ID != exiter || st.State != runtime.StateExited || st.ExitCode != 5 || st.Reason != "Error" || st.FinishedAt.IsZero() {
		t.Errorf("exiter, which exited while no plugin ran, is %+v; want exited 5, Error, with its finish time", st)
	}
	if sbs, err := second.ListSandboxes(ctx, labels); err != nil || len(sbs) != 1 || sbs[0].ID != sb || sbs[0].PodUID != "uid-restart" {
		t.Errorf("after the restart, ListSandboxes = %+v, %v; want sandbox %s", sbs, err, sb)
	}
	if got := readLogs(t, second, exiter, runtime.LogOptions{Follow: true, TailLines: -1}); got != "bye\n" {
		t.Errorf("exiter's logs after the restart = %q, want \"bye\\n\"", got)
	}
	last := readLogs(t, second, ticker, runtime.LogOptions{TailLines: 1})
	if !strings.HasPrefix(last, "tick ") {
		t.Errorf("ticker's last log line = %q", last)
	}

	// The new instance watches what it adopted: stopping works, and the exit
	// is reported once more after yet another restart, with the task gone.
	if err := second.StopContainer(ctx, ticker, 500*time.Millisecond); err != nil {
		t.Fatalf("StopContainer after the restart: %v", err)
	}
	stopped, err := second.ContainerStatus(ctx, ticker)
	if err != nil || stopped.State != runtime.StateExited {
		t.Fatalf("ticker after StopContainer: %+v, %v", stopped, err)
	}
	second.Close()
	third := env.runtime(t, ns)
	again, err := third.ContainerStatus(ctx, ticker)
	if err != nil {
		t.Fatal(err)
	}
	if again.State != runtime.StateExited || again.ExitCode != stopped.ExitCode || !again.FinishedAt.Equal(stopped.FinishedAt) {
		t.Errorf("after a second restart, ticker is %+v; want the exit seen before: %+v", again, stopped)
	}
}

// TestContainerExitObservedByWatcher checks the running plugin records an
// exit on its own (no status query), so the log driver is released.
func TestContainerExitObservedByWatcher(t *testing.T) {
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-watch")
	env.importImage(t, r)
	ctx := testCtx(t)
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-watch", Namespace: "default", Name: "watch"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.RemovePodSandbox(context.Background(), sb) })
	id := createAndStart(t, r, sb, runtime.ContainerConfig{Name: "quick", Image: testRef, Command: []string{"true"}, LogPath: t.TempDir() + "/quick.log"})
	nsCtx, conn, err := r.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := loadContainer(nsCtx, conn, id)
		if err != nil {
			t.Fatal(err)
		}
		_, recorded := l.labels[labelExitCode]
		_, taskErr := l.ctr.Task(nsCtx, nil)
		if recorded && taskErr != nil {
			return // exit in the labels, task deleted
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin did not finalize a container nobody asked about: exit recorded %v, task lookup error %v", recorded, taskErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func createAndStart(t *testing.T, r runtime.Runtime, sb string, cfg runtime.ContainerConfig) string {
	t.Helper()
	ctx := testCtx(t)
	id, err := r.CreateContainer(ctx, sb, cfg)
	if err != nil {
		t.Fatalf("CreateContainer %q: %v", cfg.Name, err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatalf("StartContainer %q: %v", cfg.Name, err)
	}
	return id
}

func waitFor(t *testing.T, r runtime.Runtime, id string, ok func(runtime.ContainerStatus) bool) runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := r.ContainerStatus(testCtx(t), id)
		if err != nil {
			t.Fatalf("ContainerStatus(%s): %v", id, err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s never reached the wanted state; last %+v", id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitForLog(t *testing.T, path, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never had %q; it has %q", path, text, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func readLogs(t *testing.T, r runtime.Runtime, id string, opts runtime.LogOptions) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := r.ContainerLogs(ctx, id, opts)
	if err != nil {
		t.Fatalf("ContainerLogs(%s): %v", id, err)
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := rc.Read(buf)
		b.WriteString(string(buf[:n]))
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("ContainerLogs(%s) did not end: %v (read %q)", id, ctx.Err(), b.String())
			}
			return b.String()
		}
	}
}

// removeSandboxWithFreshRuntime cleans up with a Runtime of its own, since
// the test's may be closed.
func removeSandboxWithFreshRuntime(t *testing.T, env testEnv, ns, sb string) {
	r := New()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Configure(ctx, env.config(ns)); err != nil {
		t.Errorf("cleanup: Configure: %v", err)
		return
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Errorf("cleanup: RemovePodSandbox: %v", err)
	}
}
