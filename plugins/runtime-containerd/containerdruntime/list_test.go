package containerdruntime

import (
	"context"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/types/task"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// TestListContainersTaskStates lists containers in every state, more of
// them alive than listTasksAbove (lowered to 2) so that ListContainers takes their states
// from one task listing, and checks each against what ContainerStatus
// (which asks for its task alone) reports. Then one container is killed
// and another loses its task behind the plugin's back, with no watcher to
// see it: the listing must find both exited, the first with its exit.
func TestListContainersTaskStates(t *testing.T) {
	listTasksAboveTwo(t)
	labels := map[string]string{"test": "list-tasks"}
	r, sb := featureEnv(t, "skiff-list-tasks", runtime.SandboxConfig{Labels: labels})
	ctx := testCtx(t)
	withLabels := func(cfg runtime.ContainerConfig) runtime.ContainerConfig {
		cfg.Labels = labels
		return cfg
	}
	run := createAndStart(t, r, sb, withLabels(sleeper("run")))
	killed := createAndStart(t, r, sb, withLabels(sleeper("killed")))
	vanished := createAndStart(t, r, sb, withLabels(sleeper("vanished")))
	created, err := r.CreateContainer(ctx, sb, withLabels(sleeper("created")))
	if err != nil {
		t.Fatal(err)
	}
	exiter := createAndStart(t, r, sb, withLabels(runtime.ContainerConfig{Name: "exiter", Image: testRef, Command: []string{"sh", "-c", "exit 7"}}))
	for _, id := range []string{run, killed, vanished} {
		waitFor(t, r, id, running)
	}
	waitFor(t, r, exiter, exited)

	states := listedTaskStates(t, r, labels)
	if p := states[run]; p == nil || p.Status != task.Status_RUNNING {
		t.Errorf("the task listing has %v for a running container", p)
	}
	if p, ok := states[created]; ok {
		t.Errorf("the task listing has %v for a container never started", p)
	}

	byID := listByID(t, r, labels, 5)
	for _, id := range []string{run, killed, vanished, created, exiter} {
		if one, err := r.ContainerStatus(ctx, id); err != nil || !reflect.DeepEqual(byID[id], one) {
			t.Errorf("ListContainers has %+v, ContainerStatus has %+v, %v", byID[id], one, err)
		}
	}
	if st := byID[run]; st.State != runtime.StateRunning || st.PID <= 0 || st.PID != int(states[run].Pid) {
		t.Errorf("running container listed as %+v, want running with pid %d", st, states[run].Pid)
	}
	if st := byID[created]; st.State != runtime.StateCreated || st.PID != 0 {
		t.Errorf("created container listed as %+v, want created with no pid", st)
	}
	if st := byID[exiter]; st.State != runtime.StateExited || st.ExitCode != 7 || st.Reason != "Error" || st.PID != 0 {
		t.Errorf("exited container listed as %+v, want exited with code 7", st)
	}

	stopWatchers(r)
	if err := syscall.Kill(byID[killed].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deleteTask(t, r, vanished)
	waitForTask(t, r, killed, containerd.Stopped)

	after := listByID(t, r, labels, 5)
	if st := after[killed]; st.State != runtime.StateExited || st.ExitCode != 137 || st.Reason != "Error" || st.FinishedAt.IsZero() || st.PID != 0 {
		t.Errorf("container killed behind the plugin's back listed as %+v, want exited with code 137", st)
	}
	if one, err := r.ContainerStatus(ctx, killed); err != nil || !reflect.DeepEqual(after[killed], one) {
		t.Errorf("the killed container's exit was not recorded: listed %+v, then %+v, %v", after[killed], one, err)
	}
	if st := after[vanished]; st.State != runtime.StateExited || st.ExitCode != 255 || !strings.Contains(st.Message, "disappeared") {
		t.Errorf("container whose task was deleted behind the plugin's back listed as %+v, want exited with code 255", st)
	}
	for _, id := range []string{run, created, exiter} {
		if !reflect.DeepEqual(after[id], byID[id]) {
			t.Errorf("container %s listed as %+v, before as %+v", id, after[id], byID[id])
		}
	}
}

// TestListedStatusWithLabelsReadBeforeTheExit is
// TestStatusWithLabelsReadBeforeTheExit when the task states were listed:
// a container whose labels were read just before the watcher finalized it
// has no task in a listing taken just after. That is the exit the labels
// now hold, not a task that disappeared (255).
func TestListedStatusWithLabelsReadBeforeTheExit(t *testing.T) {
	listTasksAboveTwo(t)
	labels := map[string]string{"test": "list-race"}
	r, sb := featureEnv(t, "skiff-list-race", runtime.SandboxConfig{Labels: labels})
	for _, name := range []string{"a", "b", "c"} {
		cfg := sleeper(name)
		cfg.Labels = labels
		createAndStart(t, r, sb, cfg)
	}
	id := createAndStart(t, r, sb, runtime.ContainerConfig{Name: "quick", Image: testRef, Labels: labels, Command: []string{"sh", "-c", "sleep 0.5; exit 3"}})
	nsCtx, c, err := r.begin(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := listLoaded(nsCtx, c, labels)
	if err != nil {
		t.Fatal(err)
	}
	var stale loaded
	for _, l := range ls {
		if l.ctr.ID() == id {
			stale = l
		}
	}
	if _, ok := stale.labels[labelExitCode]; ok || stale.ctr == nil {
		t.Fatalf("the container was not listed, or exited before its labels were read: %v", stale.labels)
	}
	waitFor(t, r, id, exited)
	waitForTask(t, r, id, "") // the watcher records the exit, then deletes the task
	states, err := taskStates(nsCtx, c, ls)
	if err != nil || states == nil {
		t.Fatalf("taskStates = %v, %v; want the listed tasks", states, err)
	}
	if p, ok := states[id]; ok {
		t.Fatalf("the task listing has %v for a finalized container", p)
	}
	st, err := r.listedStatus(nsCtx, stale, states)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("listed status from labels read before the exit: %+v, want exited with code 3", st)
	}
}

// listTasksAboveTwo lowers the threshold for the test, so a handful of
// containers take the task listing.
func listTasksAboveTwo(t *testing.T) {
	old := listTasksAbove
	listTasksAbove = 2
	t.Cleanup(func() { listTasksAbove = old })
}

// listedTaskStates is what ListContainers(labels) takes the task states
// from; it fails the test if they would be asked for one by one.
func listedTaskStates(t *testing.T, r *Runtime, labels map[string]string) map[string]*task.Process {
	t.Helper()
	ctx, c, err := r.begin(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := listLoaded(ctx, c, labels)
	if err != nil {
		t.Fatal(err)
	}
	states, err := taskStates(ctx, c, ls)
	if err != nil || states == nil {
		t.Fatalf("taskStates of %d containers = %v, %v; want the listed tasks", len(ls), states, err)
	}
	return states
}

func listByID(t *testing.T, r runtime.Runtime, labels map[string]string, want int) map[string]runtime.ContainerStatus {
	t.Helper()
	list, err := r.ListContainers(testCtx(t), labels)
	if err != nil || len(list) != want {
		t.Fatalf("ListContainers(%v) = %+v, %v; want %d containers", labels, list, err, want)
	}
	out := map[string]runtime.ContainerStatus{}
	for _, st := range list {
		out[st.ID] = st
	}
	return out
}

// stopWatchers ends r's task watchers, its client staying: exits are then
// seen only by status queries, as those that happen while no plugin runs.
func stopWatchers(r *Runtime) {
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	c.watchers.Wait()
}

// deleteTask kills and deletes a container's task through containerd, as
// a node's restart does, leaving no exit in its labels.
func deleteTask(t *testing.T, r *Runtime, id string) {
	t.Helper()
	ctx, c, err := r.begin(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Delete(ctx, containerd.WithProcessKill); err != nil {
		t.Fatal(err)
	}
}

// waitForTask waits for a container's task to be in state want, "" for
// no task.
func waitForTask(t *testing.T, r *Runtime, id string, want containerd.ProcessStatus) {
	t.Helper()
	ctx, c, err := r.begin(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := taskStatus(ctx, c, id)
		if err != nil {
			t.Fatal(err)
		}
		if st == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task of %s stayed %s, want %s", id, st, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func taskStatus(ctx context.Context, c *conn, id string) (containerd.ProcessStatus, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return "", err
	}
	tk, err := ctr.Task(ctx, nil)
	if err != nil {
		return "", ignoreNotFound(err)
	}
	st, err := tk.Status(ctx)
	if err != nil {
		return "", ignoreNotFound(err) // deleted meanwhile
	}
	return st.Status, nil
}
