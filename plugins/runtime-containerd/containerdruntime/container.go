package containerdruntime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// CreateContainer creates a container in a sandbox, from a local image.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	sb, err := loadSandbox(ctx, c, sandboxID)
	if err != nil {
		return "", fmt.Errorf("container %q: %w", cfg.Name, err)
	}
	what := fmt.Sprintf("container %q of pod %q", cfg.Name, sb.podName())
	id, err := r.createContainer(ctx, c, sb, cfg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

func (r *Runtime) createContainer(ctx context.Context, c *conn, sb sandboxInfo, cfg runtime.ContainerConfig) (string, error) {
	if err := checkContainerConfig(cfg); err != nil {
		return "", err
	}
	img, err := localImage(ctx, c, cfg.Image)
	if errors.Is(err, base.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", runtime.ErrImageNotPresent, err)
	}
	if err != nil {
		return "", err
	}
	if err := ensureUnpacked(ctx, img, c.snapshotter); err != nil {
		return "", err
	}
	imgSpec, err := img.Spec(ctx)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", img.Name(), err)
	}
	imgDesc, err := describeImage(ctx, img)
	if err != nil {
		return "", err
	}
	// From here on under the sandbox's lock, so that RemovePodSandbox does
	// not run meanwhile: the sandbox still exists, and a container is not
	// added to one being removed, nor namespaces made for it again.
	unlock := r.locks.lock(sb.ID)
	defer unlock()
	if _, err := loadSandbox(ctx, c, sb.ID); err != nil {
		return "", err
	}
	// Made again if a reboot unmounted them.
	if err := ensureSandboxNamespaces(c.dataDir, sb); err != nil {
		return "", err
	}
	opts, err := specOpts(img, imgSpec.Config, sandboxNamespaces(c.dataDir, sb), cfg)
	if err != nil {
		return "", err
	}
	id := newID()
	logPath := cfg.LogPath
	if logPath == "" {
		logPath = filepath.Join(c.dataDir, "logs", sb.ID, cfg.Name+"-"+id[:12]+".log")
	}
	if err := touchLog(logPath); err != nil {
		return "", err
	}
	labels := withLabels(cfg.Labels, map[string]string{
		labelKind:      kindContainer,
		labelSandboxID: sb.ID,
		labelName:      cfg.Name,
		labelImage:     img.Name(),
		labelImageID:   imgDesc.ID,
		labelLogPath:   logPath,
		labelTTY:       strconv.FormatBool(cfg.TTY),
	})
	_, err = c.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(c.snapshotter),
		containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime(runcRuntime, nil),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return "", err
	}
	return id, nil
}

func checkContainerConfig(cfg runtime.ContainerConfig) error {
	if cfg.Name == "" || strings.ContainsAny(cfg.Name, "/\x00") {
		return fmt.Errorf("name %q: must be non-empty, without slashes: %w", cfg.Name, base.ErrInvalid)
	}
	if cfg.Image == "" {
		return fmt.Errorf("empty image: %w", base.ErrInvalid)
	}
	if cfg.LogPath != "" && !filepath.IsAbs(cfg.LogPath) {
		return fmt.Errorf("log path %q: must be absolute: %w", cfg.LogPath, base.ErrInvalid)
	}
	return checkUserLabels(cfg.Labels)
}

// touchLog makes the log file (and its directory) exist, keeping what it
// has.
func touchLog(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("log %q: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("log %q: %w", path, err)
	}
	return f.Close()
}

// loaded is a container of ours with its labels.
type loaded struct {
	ctr    containerd.Container
	labels map[string]string
}

// what names the container in messages.
func (l loaded) what() string {
	return fmt.Sprintf("container %q (%s)", l.labels[labelName], l.ctr.ID())
}

// loadContainer finds container id, or wraps base.ErrNotFound.
func loadContainer(ctx context.Context, c *conn, id string) (loaded, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return loaded{}, fmt.Errorf("container %q: %w", id, base.ErrNotFound)
	}
	if err != nil {
		return loaded{}, fmt.Errorf("container %q: %w", id, err)
	}
	return asLoaded(ctx, ctr)
}

// asLoaded takes the labels from the record that LoadContainer or
// Containers just read, without asking containerd again.
func asLoaded(ctx context.Context, ctr containerd.Container) (loaded, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if errdefs.IsNotFound(err) {
		return loaded{}, fmt.Errorf("container %q: %w", ctr.ID(), base.ErrNotFound)
	}
	if err != nil {
		return loaded{}, fmt.Errorf("container %q: %w", ctr.ID(), err)
	}
	if info.Labels[labelKind] != kindContainer {
		return loaded{}, fmt.Errorf("container %q: not a container: %w", ctr.ID(), base.ErrNotFound)
	}
	return loaded{ctr: ctr, labels: info.Labels}, nil
}

// StartContainer starts a created container's task, with its output going
// to the log driver.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	unlock := r.locks.lock(id)
	defer unlock()
	l, err := loadContainer(ctx, c, id)
	if err != nil {
		return err
	}
	if err := r.startContainer(ctx, c, l); err != nil {
		return fmt.Errorf("start %s: %w", l.what(), err)
	}
	return nil
}

func (r *Runtime) startContainer(ctx context.Context, c *conn, l loaded) error {
	if _, done := l.labels[labelExitCode]; done {
		return fmt.Errorf("it has already run; create a new container: %w", base.ErrInvalid)
	}
	if task, err := l.ctr.Task(ctx, nil); err == nil {
		st, err := task.Status(ctx)
		if err != nil {
			return err
		}
		if st.Status != containerd.Created {
			return nil // already started
		}
		return r.startTask(ctx, c, l, task)
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	logPath := l.labels[labelLogPath]
	if err := touchLog(logPath); err != nil {
		return err
	}
	task, err := l.ctr.NewTask(ctx, logDriverIO(c.logDriver, logPath, l.labels[labelTTY] == "true"))
	if err != nil {
		r.recordStartError(ctx, l, err)
		return err
	}
	return r.startTask(ctx, c, l, task)
}

func (r *Runtime) startTask(ctx context.Context, c *conn, l loaded, task containerd.Task) error {
	// Taken before Start: a quick container may exit before Start returns,
	// and its start must not come after its finish.
	started := time.Now()
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("deleting a task that failed to start", "container", l.ctr.ID(), "error", derr)
		}
		r.recordStartError(ctx, l, err)
		return err
	}
	if _, err := l.ctr.SetLabels(ctx, map[string]string{labelStartedAt: formatTime(started)}); err != nil {
		r.log.Warn("recording the start time", "container", l.ctr.ID(), "error", err)
	}
	r.watch(c, l.ctr, task)
	return nil
}

// recordStartError marks a container that could not start as exited, the
// way Kubernetes reports it (exit code 128, reason StartError).
func (r *Runtime) recordStartError(ctx context.Context, l loaded, startErr error) {
	_, err := l.ctr.SetLabels(context.WithoutCancel(ctx), map[string]string{
		labelExitCode:   "128",
		labelFinishedAt: formatTime(time.Now()),
		labelReason:     "StartError",
		labelMessage:    truncate(startErr.Error(), 1024),
	})
	if err != nil {
		r.log.Warn("recording a start error", "container", l.ctr.ID(), "error", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// StopContainer stops a container: SIGTERM, then SIGKILL after timeout.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	return r.stopContainer(ctx, c, id, timeout)
}

func (r *Runtime) stopContainer(ctx context.Context, c *conn, id string, timeout time.Duration) error {
	l, err := loadContainer(ctx, c, id)
	if err != nil {
		return err
	}
	task, err := l.ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil // never started, or already stopped and finalized
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", l.what(), err)
	}
	if err := killTask(ctx, task, timeout); err != nil {
		return fmt.Errorf("stop %s: %w", l.what(), err)
	}
	if err := r.finalize(ctx, l.ctr, task); err != nil {
		return fmt.Errorf("stop %s: %w", l.what(), err)
	}
	return nil
}

// killTask sends SIGTERM, waits up to timeout for the task to exit, then
// sends SIGKILL and waits for the exit.
func killTask(ctx context.Context, task containerd.Task, timeout time.Duration) error {
	st, err := task.Status(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		return ignoreNotFound(err)
	}
	if timeout > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
			return ignoreNotFound(err)
		}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-exitC:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil {
		return ignoreNotFound(err)
	}
	select {
	case <-exitC:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func ignoreNotFound(err error) error {
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// RemoveContainer kills a container if it runs and removes it with its
// snapshot. The log file stays.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	return r.removeContainer(ctx, c, id)
}

func (r *Runtime) removeContainer(ctx context.Context, c *conn, id string) error {
	l, err := loadContainer(ctx, c, id)
	if errors.Is(err, base.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	unlock := r.locks.lock(id)
	defer unlock()
	if task, err := l.ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: task: %w", l.what(), err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", l.what(), err)
	}
	if err := l.ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", l.what(), err)
	}
	return nil
}

// ContainerStatus reports one container.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	l, err := loadContainer(ctx, c, id)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	return r.status(ctx, l)
}

// ListContainers lists the containers whose labels include labels.
func (r *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerStatus, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	// containerd filters by the labels: the agent asks for one pod's
	// containers, or for its node's.
	ls, err := listLoaded(ctx, c, labels)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	// After the labels were read: a task missing from the list then has
	// either not started yet or ended since (see listedStatus).
	states, err := taskStates(ctx, c, ls)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := []runtime.ContainerStatus{}
	for _, l := range ls {
		st, err := r.listedStatus(ctx, l, states)
		if errors.Is(err, base.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// listLoaded loads the containers whose labels include labels.
func listLoaded(ctx context.Context, c *conn, labels map[string]string) ([]loaded, error) {
	ctrs, err := c.client.Containers(ctx, kindFilter(kindContainer)+labelsFilter(labels))
	if err != nil {
		return nil, err
	}
	var ls []loaded
	for _, ctr := range ctrs {
		l, err := asLoaded(ctx, ctr)
		if errors.Is(err, base.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		if matchLabels(userLabels(l.labels), labels) {
			ls = append(ls, l)
		}
	}
	return ls, nil
}

// listTasksAbove is how many containers with no exit in their labels a
// listing must have for taskStates to list the tasks. Asked one by one, a
// container's task costs two calls to containerd, each reaching its shim;
// one List costs a single call, but containerd asks every task of the
// namespace for its state, listed or not. The node-wide listing, every
// second, wins by far; a pod's own listing (a few containers, on a node
// with many) stays with the calls that reach only its own shims, so that
// one stuck shim elsewhere does not hold up its sync. A variable for
// tests.
var listTasksAbove = 8

// listTasksTimeout bounds the List: a shim that does not answer holds it
// up, and the per-container calls are then the better way.
const listTasksTimeout = 5 * time.Second

// taskStates is the state of every task of the namespace, by container ID,
// if ls has enough containers that may still have one; else nil, and each
// container's task is asked for on its own.
func taskStates(ctx context.Context, c *conn, ls []loaded) (map[string]*task.Process, error) {
	live := 0
	for _, l := range ls {
		if _, done := l.labels[labelExitCode]; !done {
			live++
		}
	}
	if live <= listTasksAbove {
		return nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, listTasksTimeout)
	defer cancel()
	resp, err := c.client.TaskService().List(lctx, &tasks.ListTasksRequest{})
	if err != nil {
		if ctx.Err() == nil {
			return nil, nil // ask each container's task instead
		}
		return nil, fmt.Errorf("tasks of namespace %q: %w", c.namespace, errdefs.FromGRPC(err))
	}
	states := make(map[string]*task.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		states[p.ID] = p // a task's ID is its container's
	}
	return states, nil
}

// listedStatus is status, from the listed task states where they suffice.
// A stopped task (whose exit must be finalized), one in an unknown state,
// and a started container's missing one go the way of status, which asks
// for the task itself: containerd leaves out of the list a task whose shim
// did not answer (gone, or from 1.7 on unavailable), and only asking tells
// a deleted task (taskGone) from an error.
func (r *Runtime) listedStatus(ctx context.Context, l loaded, states map[string]*task.Process) (runtime.ContainerStatus, error) {
	if states == nil {
		return r.status(ctx, l)
	}
	st, exited, err := labelStatus(ctx, l)
	if err != nil || exited {
		return st, err
	}
	p, ok := states[l.ctr.ID()]
	switch {
	case !ok && st.StartedAt.IsZero():
		return st, nil // never started: created, as taskGone says
	case !ok:
		return r.status(ctx, l)
	}
	switch p.Status {
	case task.Status_RUNNING, task.Status_PAUSED, task.Status_PAUSING:
		st.State, st.PID = runtime.StateRunning, int(p.Pid)
	case task.Status_CREATED:
		st.State = runtime.StateCreated
	default:
		return r.status(ctx, l)
	}
	return st, nil
}

// labelStatus is what the container's labels say of it; exited reports
// that they hold its exit, which is then all there is to know.
func labelStatus(ctx context.Context, l loaded) (st runtime.ContainerStatus, exited bool, err error) {
	info, err := l.ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return runtime.ContainerStatus{}, false, fmt.Errorf("%s: %w", l.what(), err)
	}
	st = staticStatus(l.ctr.ID(), info.CreatedAt, l.labels)
	return st, st.State == runtime.StateExited, nil
}

// status reports a container from its labels and its task. A stopped task
// is finalized on the way, so its exit is in the labels from then on.
func (r *Runtime) status(ctx context.Context, l loaded) (runtime.ContainerStatus, error) {
	st, exited, err := labelStatus(ctx, l)
	if err != nil || exited {
		return st, err
	}
	task, err := l.ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return r.taskGone(ctx, l, st.CreatedAt, st)
	}
	if err != nil {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", l.what(), err)
	}
	ts, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return r.taskGone(ctx, l, st.CreatedAt, st)
	}
	if err != nil {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: task: %w", l.what(), err)
	}
	switch ts.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		st.State, st.PID = runtime.StateRunning, int(task.Pid())
	case containerd.Created:
		st.State = runtime.StateCreated
	case containerd.Stopped:
		if err := r.finalize(ctx, l.ctr, task); err != nil {
			return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", l.what(), err)
		}
		labels, err := l.ctr.Labels(ctx)
		if err != nil {
			return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", l.what(), err)
		}
		st = staticStatus(l.ctr.ID(), st.CreatedAt, labels)
	default:
		st.State = runtime.StateUnknown
	}
	return st, nil
}

// taskGone reports a container whose labels (as loaded, in st) have no
// exit and whose task is not there. Never started: it is created. Else a
// watcher may have finalized it since the labels were read, and they have
// its exit now; if not, the node restarted under it.
func (r *Runtime) taskGone(ctx context.Context, l loaded, created time.Time, st runtime.ContainerStatus) (runtime.ContainerStatus, error) {
	if st.StartedAt.IsZero() {
		return st, nil
	}
	labels, err := l.ctr.Labels(ctx)
	if errdefs.IsNotFound(err) {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", l.what(), base.ErrNotFound)
	}
	if err != nil {
		return runtime.ContainerStatus{}, fmt.Errorf("%s: %w", l.what(), err)
	}
	if now := staticStatus(l.ctr.ID(), created, labels); now.State == runtime.StateExited {
		return now, nil
	}
	st.State, st.ExitCode, st.Reason = runtime.StateExited, 255, "Error"
	st.Message = "the container's task disappeared; its exit status is unknown"
	return st, nil
}

// staticStatus is what the labels alone say of a container.
func staticStatus(id string, created time.Time, labels map[string]string) runtime.ContainerStatus {
	st := runtime.ContainerStatus{
		ID:        id,
		SandboxID: labels[labelSandboxID],
		Name:      labels[labelName],
		Image:     labels[labelImage],
		ImageID:   labels[labelImageID],
		Labels:    userLabels(labels),
		State:     runtime.StateCreated,
		CreatedAt: created,
		StartedAt: parseTime(labels[labelStartedAt]),
		LogPath:   labels[labelLogPath],
	}
	if code, ok := labels[labelExitCode]; ok {
		st.State = runtime.StateExited
		st.ExitCode, _ = strconv.Atoi(code)
		st.FinishedAt = parseTime(labels[labelFinishedAt])
		st.Reason = labels[labelReason]
		st.Message = labels[labelMessage]
	}
	return st
}
