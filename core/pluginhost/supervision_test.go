package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/volumes"
)

const testPluginPkg = "github.com/skiffhq/skiff/core/pluginhost/testdata/testplugin"

// TestMain fails the run when a test leaves a plugin process behind, as a
// child still running or as a zombie nobody reaped.
func TestMain(m *testing.M) {
	code := m.Run()
	if kids := children(); len(kids) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "plugin processes left behind after the tests: %s\n", strings.Join(kids, "; "))
		code = 1
	}
	os.Exit(code)
}

// children lists the child processes of the test binary ("pid state cmd"),
// zombies included.
func children() []string {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, path := range dirs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces.
		s := string(data)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == self {
			out = append(out, fmt.Sprintf("%s %s %s", strings.Fields(s)[0], fields[0], s[strings.IndexByte(s, '(')+1:end]))
		}
	}
	return out
}

// wantNoChildren fails the test if any child process remains a moment after
// the host stopped.
func wantNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := children()
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child processes remain after Host.Stop: %v", kids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fastTiming makes supervision quick enough for tests.
var fastTiming = Timing{
	CheckInterval: 50 * time.Millisecond, PingTimeout: 300 * time.Millisecond, PingFailures: 3,
	MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, HealthyToReset: time.Minute,
	CrashLoopRestarts: 5, CrashLoopWindow: time.Minute, StopTimeout: 2 * time.Second,
}

var (
	buildOnce sync.Map // pkg -> *built
)

type built struct {
	once sync.Once
	path string
	err  error
}

// buildShared builds pkg once per test run.
func buildShared(t *testing.T, pkg string) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(pkg, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "pluginhost-test-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, filepath.Base(pkg))
		b.err = goBuild(b.path, pkg)
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", pkg, b.err)
	}
	return b.path
}

func testPluginSpec(t *testing.T, mode string) Spec {
	spec := schedulerSpec(t, buildShared(t, testPluginPkg))
	spec.Settings = map[string]string{"mode": mode}
	return spec
}

func startHost(t *testing.T, specs ...Spec) *Host {
	t.Helper()
	h := New("node-1", t.TempDir())
	h.Timing = fastTiming
	if err := h.Start(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

func statusOf(h *Host, kind base.Kind) Status {
	for _, s := range h.Status() {
		if s.Kind == kind {
			return s
		}
	}
	return Status{}
}

func waitStatus(t *testing.T, h *Host, kind base.Kind, what string, timeout time.Duration, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := statusOf(h, kind)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s plugin: %s did not happen within %v; status %+v", kind, what, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCrashLoopIsMarkedUnhealthyAndTheRestKeepsWorking(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs plugin binaries")
	vol := Spec{Kind: base.KindVolumes, Path: buildShared(t, "github.com/skiffhq/skiff/plugins/volumes"),
		Versions: volumes.ClientVersions(), DataDir: t.TempDir()}
	h := startHost(t, testPluginSpec(t, "crash"), vol)
	st := waitStatus(t, h, base.KindScheduler, "crash loop", 30*time.Second, func(s Status) bool { return s.CrashLoop })
	if st.Healthy || st.Restarts < fastTiming.CrashLoopRestarts || !strings.Contains(st.Message, "crash loop") || !strings.Contains(st.Message, "exit status 3") {
		t.Errorf("crash-looping plugin status %+v: want unhealthy, >= %d restarts, a message saying crash loop and how it exited", st, fastTiming.CrashLoopRestarts)
	}
	// It stays marked while it keeps crashing, even while a process is up.
	time.Sleep(500 * time.Millisecond)
	if st := statusOf(h, base.KindScheduler); st.Healthy || !st.CrashLoop {
		t.Errorf("crash loop mark dropped while still crashing: %+v", st)
	}
	// The other plugin of the host is untouched and answers.
	if st := statusOf(h, base.KindVolumes); !st.Healthy || st.Restarts != 0 {
		t.Errorf("volumes plugin beside a crash-looping one: %+v", st)
	}
	impl, err := h.Get(base.KindVolumes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := impl.(volumes.Volumes).Info(context.Background()); err != nil {
		t.Errorf("volumes plugin does not answer: %v", err)
	}
	h.Stop()
	wantNoChildren(t)
}

func TestHungPluginFailsCallsInFlightAndIsRestarted(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	h := startHost(t, testPluginSpec(t, "hang"))
	restarted := make(chan struct{}, 10)
	h.OnRestart(base.KindScheduler, func(context.Context) { restarted <- struct{}{} })
	impl, err := h.Get(base.KindScheduler)
	if err != nil {
		t.Fatal(err)
	}
	oldPID := statusOf(h, base.KindScheduler).PID
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		// No deadline: only the host can end this call.
		_, err := impl.(scheduler.Scheduler).Schedule(context.Background(), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, base.ErrUnavailable) {
			t.Fatalf("call to a hung plugin ended with %v, want an error wrapping base.ErrUnavailable", err)
		}
		if !strings.Contains(err.Error(), "scheduler plugin") {
			t.Errorf("error %q does not name the plugin", err)
		}
		t.Logf("call ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(20 * time.Second):
		t.Fatal("a call to a frozen plugin still hangs after 20s")
	}
	select {
	case <-restarted:
	case <-time.After(20 * time.Second):
		t.Fatalf("hung plugin was not restarted; status %+v", statusOf(h, base.KindScheduler))
	}
	st := statusOf(h, base.KindScheduler)
	if !st.Healthy || st.PID == oldPID || st.Restarts != 1 {
		t.Errorf("after the restart: %+v (old pid %d)", st, oldPID)
	}
	if err := syscall.Kill(oldPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the frozen process %d is still there (kill -0: %v)", oldPID, err)
	}
	h.Stop()
	wantNoChildren(t)
}

func TestPluginPrintingToStdoutWorksAndIsLogged(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	h := startHost(t, testPluginSpec(t, "stdout"))
	impl, err := h.Get(base.KindScheduler)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := impl.(scheduler.Scheduler).Schedule(context.Background(), nil); err != nil {
			t.Fatalf("Schedule %d of a plugin that prints to stdout: %v", i, err)
		}
	}
	if st := statusOf(h, base.KindScheduler); !st.Healthy || st.Restarts != 0 {
		t.Errorf("status: %+v", st)
	}
	var log string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(h.LogPath(base.KindScheduler))
		log = string(data)
		if strings.Contains(log, "stdout line from Schedule") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"stdout line from Configure", "stdout line from Schedule (0 pods)"} {
		if !strings.Contains(log, want) {
			t.Errorf("plugin log lacks %q:\n%s", want, log)
		}
	}
}

func TestStdoutBeforeHandshakeIsExplained(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	t.Setenv("SKIFF_TESTPLUGIN_EARLY_STDOUT", "1")
	h := New("", t.TempDir())
	err := h.Start(context.Background(), []Spec{testPluginSpec(t, "")})
	if err == nil {
		h.Stop()
		t.Fatal("a plugin that breaks its handshake was accepted")
	}
	if !strings.Contains(err.Error(), "wrote to stdout before its handshake") {
		t.Errorf("error does not explain the broken handshake: %v", err)
	}
	wantNoChildren(t)
}

func TestReloadReplacesTheProcessAndRunsHooks(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	h := startHost(t, schedulerSpec(t, buildShared(t, "github.com/skiffhq/skiff/plugins/scheduler-binpack")))
	var hookSaw []string
	h.OnRestart(base.KindScheduler, func(ctx context.Context) {
		// The hook sees the new process already.
		impl, err := h.Get(base.KindScheduler)
		if err == nil {
			_, err = impl.(scheduler.Scheduler).Schedule(ctx, nil)
		}
		hookSaw = append(hookSaw, fmt.Sprint(err))
	})
	before := statusOf(h, base.KindScheduler)
	st, oldPID, err := h.Reload(context.Background(), base.KindScheduler)
	if err != nil {
		t.Fatal(err)
	}
	if oldPID != before.PID || st.PID == before.PID || st.PID == 0 || !st.Healthy || st.Restarts != 0 {
		t.Errorf("reload: status %+v, old pid %d; before %+v", st, oldPID, before)
	}
	if len(hookSaw) != 1 || hookSaw[0] != "<nil>" {
		t.Errorf("OnRestart hooks after reload: %v, want one run that reached the new process", hookSaw)
	}
	if err := syscall.Kill(oldPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("old process %d still there after reload (kill -0: %v)", oldPID, err)
	}
	impl, err := h.Get(base.KindScheduler)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := impl.(scheduler.Scheduler).Schedule(context.Background(), nil); err != nil {
		t.Errorf("reloaded plugin: %v", err)
	}
	// The supervisor watches the new process: killing it restarts it.
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, h, base.KindScheduler, "restart after reload", 20*time.Second, func(s Status) bool {
		return s.Healthy && s.PID != st.PID && s.Restarts == 1
	})
	if _, _, err := h.Reload(context.Background(), base.KindRuntime); !errors.Is(err, base.ErrNotFound) {
		t.Errorf("reload of a kind the host does not run: %v", err)
	}
	h.Stop()
	wantNoChildren(t)
}

func TestReloadWithABrokenBinaryKeepsTheOldProcess(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	bin := filepath.Join(t.TempDir(), "skiff-scheduler")
	data, err := os.ReadFile(buildShared(t, "github.com/skiffhq/skiff/plugins/scheduler-binpack"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, schedulerSpec(t, bin))
	before := statusOf(h, base.KindScheduler)
	// The new "build" is not a plugin at all.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho not a plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Reload(context.Background(), base.KindScheduler); err == nil || !strings.Contains(err.Error(), "reload") {
		t.Fatalf("reload to a broken binary: %v, want an error", err)
	}
	if st := statusOf(h, base.KindScheduler); st.PID != before.PID || !st.Healthy {
		t.Errorf("after a failed reload the old process should keep serving: %+v, before %+v", st, before)
	}
	h.Stop()
	wantNoChildren(t)
}

func TestSettingsErrorsNameOriginAndOfferedSettingsAreDropped(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	bin := buildShared(t, "github.com/skiffhq/skiff/plugins/scheduler-binpack")
	spec := schedulerSpec(t, bin)
	spec.Origin = `profile "dev" in /etc/skiff.yaml`
	spec.Settings = map[string]string{"colour": "blue"}
	h := New("", t.TempDir())
	err := h.Start(context.Background(), []Spec{spec})
	if err == nil {
		h.Stop()
		t.Fatal("unknown setting accepted")
	}
	for _, want := range []string{`profile "dev" in /etc/skiff.yaml: scheduler plugin binpack`, `setting "colour": unknown`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A setting the core offers but the plugin does not declare is dropped.
	spec.Settings = nil
	spec.Offered = map[string]string{"address": "/run/containerd/containerd.sock"}
	h = startHost(t, spec)
	if st := statusOf(h, base.KindScheduler); !st.Healthy {
		t.Errorf("status: %+v", st)
	}
	h.Stop()
	wantNoChildren(t)
}

func TestLogsTailAndFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "runtime.log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	read := func(opts LogOptions) string {
		r, err := OpenLog(context.Background(), path, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, tc := range []struct {
		tail int64
		want string
	}{{-1, "one\ntwo\nthree\n"}, {0, ""}, {1, "three\n"}, {2, "two\nthree\n"}, {10, "one\ntwo\nthree\n"}} {
		if got := read(LogOptions{TailLines: tc.tail}); got != tc.want {
			t.Errorf("tail %d = %q, want %q", tc.tail, got, tc.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := OpenLog(ctx, path, LogOptions{Follow: true, TailLines: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan string, 10)
	go func() {
		buf := make([]byte, 100)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				close(got)
				return
			}
		}
	}()
	if s := <-got; s != "three\n" {
		t.Errorf("first followed read %q", s)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "four")
	f.Close()
	select {
	case s := <-got:
		if s != "four\n" {
			t.Errorf("followed read after append: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not see the appended line")
	}
	cancel()
	select {
	case _, ok := <-got:
		for ok {
			_, ok = <-got
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end with its context")
	}
}
