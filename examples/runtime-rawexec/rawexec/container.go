package rawexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// containerRecord is container.json: everything the shim needs to start
// the process, and what ContainerStatus reports of it.
type containerRecord struct {
	ID        string            `json:"id"`
	SandboxID string            `json:"sandboxID"`
	Name      string            `json:"name"`
	Image     string            `json:"image"`
	ImageID   string            `json:"imageID"`
	Labels    map[string]string `json:"labels,omitempty"`
	LogPath   string            `json:"logPath"`
	CreatedAt time.Time         `json:"createdAt"`
	// Args is the resolved command line; Env the whole environment.
	Args  []string `json:"args"`
	Env   []string `json:"env"`
	Dir   string   `json:"dir"`
	NetNS string   `json:"netns,omitempty"`
	UID   *uint32  `json:"uid,omitempty"`
	GID   *uint32  `json:"gid,omitempty"`
}

// startedRecord is started.json, written by the shim once the process runs.
type startedRecord struct {
	PID int `json:"pid"`
	// StartTime is the process's start time in clock ticks since boot
	// (/proc/<pid>/stat), which tells it from a later process with the
	// same PID.
	StartTime     uint64    `json:"startTime"`
	ShimPID       int       `json:"shimPID"`
	ShimStartTime uint64    `json:"shimStartTime"`
	StartedAt     time.Time `json:"startedAt"`
}

// exitRecord is exit.json, written by the shim when the process ended.
type exitRecord struct {
	ExitCode   int       `json:"exitCode"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
}

func containerDir(dataDir, id string) string {
	return filepath.Join(dataDir, "containers", filepath.Base(id))
}

func (r *Runtime) container(id string) (containerRecord, string, error) {
	dir, err := r.dir()
	if err != nil {
		return containerRecord{}, "", err
	}
	cdir := containerDir(dir, id)
	var c containerRecord
	if err := readJSON(filepath.Join(cdir, "container.json"), &c); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return containerRecord{}, "", fmt.Errorf("container %q: %w", id, base.ErrNotFound)
		}
		return containerRecord{}, "", fmt.Errorf("container %q: %w", id, err)
	}
	return c, cdir, nil
}

func (r *Runtime) containers() ([]containerRecord, error) {
	dir, err := r.dir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "containers"))
	if err != nil {
		return nil, fmt.Errorf("rawexec: %w", err)
	}
	var out []containerRecord
	for _, e := range entries {
		var c containerRecord
		if err := readJSON(filepath.Join(dir, "containers", e.Name(), "container.json"), &c); err == nil {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// hostFiles are the files the core mounts into every container to set it
// up (the cluster's DNS config, for one). A host process uses the host's
// own: these mounts are left out, not refused.
var hostFiles = map[string]bool{"/etc/resolv.conf": true, "/etc/hosts": true, "/etc/hostname": true}

// volumeMounts are the mounts of cfg other than hostFiles.
func volumeMounts(cfg runtime.ContainerConfig) []runtime.Mount {
	var out []runtime.Mount
	for _, m := range cfg.Mounts {
		if !hostFiles[m.ContainerPath] {
			out = append(out, m)
		}
	}
	return out
}

// unsupported lists what a config asks for that rawexec cannot do.
func unsupported(cfg runtime.ContainerConfig) []string {
	var out []string
	sec := cfg.Security
	for _, c := range []struct {
		set  bool
		what string
	}{
		{len(volumeMounts(cfg)) > 0, "volume mounts (there is no filesystem isolation)"},
		{cfg.TTY, "a TTY"},
		{sec.ReadOnlyRootfs, "a read-only root filesystem"},
		{len(sec.CapAdd) > 0 || len(sec.CapDrop) > 0, "capabilities"},
		{sec.Privileged, "privileged"},
		{sec.NoNewPrivileges, "allowPrivilegeEscalation=false"},
	} {
		if c.set {
			out = append(out, c.what)
		}
	}
	return out
}

// CreateContainer implements runtime.Runtime. The command follows
// Kubernetes: Command replaces the image's entrypoint, Args its cmd.
func (r *Runtime) CreateContainer(_ context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	dataDir, err := r.dir()
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("container %q", cfg.Name)
	sb, err := r.sandbox(sandboxID)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if u := unsupported(cfg); len(u) > 0 {
		return "", fmt.Errorf("%s: rawexec runs host processes and cannot give %s: %w", what, strings.Join(u, ", "), base.ErrUnsupported)
	}
	img, err := r.lookupImage(cfg.Image)
	if err != nil {
		return "", fmt.Errorf("%s: image %q is not in rawexec's catalogue (import it, or use %s): %w", what, cfg.Image, HostImage, runtime.ErrImageNotPresent)
	}
	c := containerRecord{
		ID: newID(), SandboxID: sb.ID, Name: cfg.Name, Image: img.Ref, ImageID: img.ID,
		Labels: cfg.Labels, LogPath: cfg.LogPath, CreatedAt: time.Now(), NetNS: sb.NetNSPath,
	}
	if c.Args = commandLine(cfg, img); len(c.Args) == 0 {
		return "", fmt.Errorf("%s: no command: the image %s has none, so the pod must give one: %w", what, img.Ref, base.ErrInvalid)
	}
	c.Env = environment(img.Env, cfg.Env)
	c.Dir = cfg.WorkingDir
	if c.Dir == "" {
		c.Dir = img.WorkingDir
	}
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		c.Dir = filepath.Join(rootDir(dataDir, sb.ID), c.Dir)
	}
	if cfg.Security.RunAsUser != nil {
		uid := uint32(*cfg.Security.RunAsUser)
		c.UID = &uid
	}
	if cfg.Security.RunAsGroup != nil {
		gid := uint32(*cfg.Security.RunAsGroup)
		c.GID = &gid
	}
	if cfg.Security.RunAsNonRoot && (c.UID == nil && os.Geteuid() == 0 || c.UID != nil && *c.UID == 0) {
		return "", fmt.Errorf("%s: it would run as root (rawexec runs as the plugin's user unless runAsUser is set): %w", what, runtime.ErrRunAsRoot)
	}
	cdir := containerDir(dataDir, c.ID)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if err := writeJSON(filepath.Join(cdir, "container.json"), c); err != nil {
		os.RemoveAll(cdir)
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return c.ID, nil
}

func commandLine(cfg runtime.ContainerConfig, img image) []string {
	switch {
	case len(cfg.Command) > 0:
		return append(append([]string{}, cfg.Command...), cfg.Args...)
	case len(cfg.Args) > 0:
		return append(append([]string{}, img.Entrypoint...), cfg.Args...)
	}
	return append(append([]string{}, img.Entrypoint...), img.Cmd...)
}

// environment is the image's env with the container's on top, and a PATH.
func environment(imageEnv, env []string) []string {
	var out []string
	index := map[string]int{}
	for _, kv := range append(append([]string{}, imageEnv...), env...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	if _, ok := index["PATH"]; !ok {
		out = append([]string{defaultPath}, out...)
	}
	return out
}

// StartContainer implements runtime.Runtime: it starts the container's shim,
// which starts the process and reports back.
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	c, cdir, err := r.container(id)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(cdir, "started.json")); err == nil {
		return fmt.Errorf("container %s was started already: %w", id, base.ErrInvalid)
	}
	dataDir, err := r.dir()
	if err != nil {
		return err
	}
	// A working directory inside the sandbox is made; one elsewhere on the
	// host must exist.
	if rel, err := filepath.Rel(rootDir(dataDir, c.SandboxID), c.Dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return fmt.Errorf("container %s: %w", id, err)
		}
	} else if _, err := os.Stat(c.Dir); err != nil {
		return fmt.Errorf("container %s: working directory %s: %w", id, c.Dir, err)
	}
	return r.startShim(ctx, cdir)
}

// startShim runs `<shim binary> rawexec-shim <cdir>` in a session of its own
// (so it outlives this process) and waits for its report on file
// descriptor 3: "ok", or "error: ...".
func (r *Runtime) startShim(ctx context.Context, cdir string) error {
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	shimLog, err := os.OpenFile(filepath.Join(cdir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		wr.Close()
		return err
	}
	defer shimLog.Close()
	cmd := exec.Command(r.shimBinary, shimArg, cdir)
	cmd.Stdout, cmd.Stderr = shimLog, shimLog
	cmd.ExtraFiles = []*os.File{wr}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("start the rawexec shim %s: %w", r.shimBinary, err)
	}
	// Reap the shim if it ends while this process lives; if this process
	// ends first, the shim is re-parented and reaped by init.
	go func() { _ = cmd.Wait() }()
	report := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(rd).ReadString('\n')
		report <- strings.TrimSpace(line)
	}()
	select {
	case msg := <-report:
		if msg == "ok" {
			return nil
		}
		if msg == "" {
			msg = "the shim ended without a report (see " + filepath.Join(cdir, "shim.log") + ")"
		}
		return fmt.Errorf("start container %s: %s", filepath.Base(cdir), strings.TrimPrefix(msg, "error: "))
	case <-ctx.Done():
		return fmt.Errorf("start container %s: %w", filepath.Base(cdir), ctx.Err())
	}
}

// state reads what the shim recorded: started (nil if not started), exited
// (nil while running), and whether the process still runs.
func state(cdir string) (*startedRecord, *exitRecord) {
	var st startedRecord
	if err := readJSON(filepath.Join(cdir, "started.json"), &st); err != nil {
		var ex exitRecord
		if err := readJSON(filepath.Join(cdir, "exit.json"), &ex); err == nil {
			return nil, &ex // failed to start
		}
		return nil, nil
	}
	var ex exitRecord
	if err := readJSON(filepath.Join(cdir, "exit.json"), &ex); err == nil {
		return &st, &ex
	}
	if alive(st.ShimPID, st.ShimStartTime) {
		return &st, nil
	}
	// The shim is gone without recording an exit (killed, or the machine
	// rebooted): the process cannot be watched any more.
	if alive(st.PID, st.StartTime) {
		return &st, nil
	}
	return &st, &exitRecord{ExitCode: 255, Reason: "Error", Message: "the process ended while its rawexec shim was gone; its exit code is unknown", FinishedAt: time.Now()}
}

// ContainerStatus implements runtime.Runtime.
func (r *Runtime) ContainerStatus(_ context.Context, id string) (runtime.ContainerStatus, error) {
	c, cdir, err := r.container(id)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	return status(c, cdir), nil
}

func status(c containerRecord, cdir string) runtime.ContainerStatus {
	st := runtime.ContainerStatus{
		ID: c.ID, SandboxID: c.SandboxID, Name: c.Name, Image: c.Image, ImageID: c.ImageID,
		Labels: c.Labels, State: runtime.StateCreated, CreatedAt: c.CreatedAt, LogPath: c.LogPath,
	}
	started, exited := state(cdir)
	if started != nil {
		st.State, st.PID, st.StartedAt = runtime.StateRunning, started.PID, started.StartedAt
	}
	if exited != nil {
		st.State, st.PID = runtime.StateExited, 0
		st.ExitCode, st.Reason, st.Message, st.FinishedAt = exited.ExitCode, exited.Reason, exited.Message, exited.FinishedAt
	}
	return st
}

// ListContainers implements runtime.Runtime.
func (r *Runtime) ListContainers(_ context.Context, labels map[string]string) ([]runtime.ContainerStatus, error) {
	dir, err := r.dir()
	if err != nil {
		return nil, err
	}
	all, err := r.containers()
	if err != nil {
		return nil, err
	}
	var out []runtime.ContainerStatus
	for _, c := range all {
		if hasLabels(c.Labels, labels) {
			out = append(out, status(c, containerDir(dir, c.ID)))
		}
	}
	return out, nil
}

// StopContainer implements runtime.Runtime: SIGTERM to the container's
// process group, SIGKILL after timeout.
func (r *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	_, cdir, err := r.container(id)
	if err != nil {
		return err
	}
	started, exited := state(cdir)
	if started == nil || exited != nil {
		return nil
	}
	if timeout > 0 {
		signalGroup(started, syscall.SIGTERM)
		if waitExit(ctx, cdir, timeout) {
			return nil
		}
	}
	signalGroup(started, syscall.SIGKILL)
	if waitExit(ctx, cdir, 10*time.Second) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	return fmt.Errorf("stop container %s: process %d did not end after SIGKILL", id, started.PID)
}

// signalGroup signals the container's process group (its PID: the shim
// starts it as a group leader), if the process is still the one started.
func signalGroup(st *startedRecord, sig syscall.Signal) {
	if alive(st.PID, st.StartTime) {
		_ = syscall.Kill(-st.PID, sig)
	}
}

// waitExit waits up to d for the shim to record the exit.
func waitExit(ctx context.Context, cdir string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, exited := state(cdir); exited != nil {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RemoveContainer implements runtime.Runtime: it kills a running container
// and forgets it. The log file stays.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	_, cdir, err := r.container(id)
	if errors.Is(err, base.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := r.StopContainer(ctx, id, 0); err != nil {
		return err
	}
	r.state.Lock()
	defer r.state.Unlock()
	if err := os.RemoveAll(cdir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}
