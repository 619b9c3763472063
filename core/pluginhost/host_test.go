package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// buildPlugin compiles a plugin main package into a temp dir.
func buildPlugin(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := goBuild(out, pkg); err != nil {
		t.Fatalf("build %s: %v", pkg, err)
	}
	return out
}

func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, msg)
	}
	return nil
}

func schedulerSpec(t *testing.T, path string) Spec {
	return Spec{Kind: base.KindScheduler, Path: path, Versions: scheduler.ClientVersions(), DataDir: t.TempDir()}
}

func TestKilledPluginIsRestartedAndReconfigured(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	bin := buildPlugin(t, "github.com/skiffhq/skiff/plugins/scheduler-binpack")
	h := New("", t.TempDir())
	restarted := make(chan struct{}, 1)
	h.OnRestart(base.KindScheduler, func(context.Context) { restarted <- struct{}{} })
	if err := h.Start(context.Background(), []Spec{schedulerSpec(t, bin)}); err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	st := h.Status()
	if len(st) != 1 || !st[0].Healthy || st[0].PID == 0 || st[0].Name != "binpack" || st[0].APIVersion != scheduler.APIVersion {
		t.Fatalf("status after start: %+v", st)
	}
	oldPID := st[0].PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// While it is down, calls fail fast with ErrUnavailable (or the plugin
	// is already back).
	if _, err := h.Get(base.KindScheduler); err != nil && !errors.Is(err, base.ErrUnavailable) {
		t.Errorf("Get while down: %v, want ErrUnavailable", err)
	}
	select {
	case <-restarted:
	case <-time.After(20 * time.Second):
		t.Fatalf("plugin was not restarted; status %+v", h.Status())
	}
	st = h.Status()
	if !st[0].Healthy || st[0].Restarts != 1 || st[0].PID == oldPID {
		t.Fatalf("status after restart: %+v", st)
	}
	impl, err := h.Get(base.KindScheduler)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := impl.(scheduler.Scheduler).Schedule(ctx, nil); err != nil {
		t.Errorf("the restarted plugin does not answer: %v", err)
	}
}

func TestVersionSkewIsRefusedWithAdvice(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	bin := buildPlugin(t, "github.com/skiffhq/skiff/core/pluginhost/testdata/skewplugin")
	h := New("", t.TempDir())
	err := h.Start(context.Background(), []Spec{schedulerSpec(t, bin)})
	if err == nil {
		h.Stop()
		t.Fatal("a plugin speaking only API version 99 was accepted")
	}
	for _, want := range []string{"skiff.scheduler API versions [1]", "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestWrongKindAndBadSettingsAreRefused(t *testing.T) {
	plugintest.SkipIfShort(t, "builds and runs a plugin binary")
	bin := buildPlugin(t, "github.com/skiffhq/skiff/plugins/scheduler-binpack")
	h := New("", t.TempDir())
	spec := schedulerSpec(t, bin)
	spec.Settings = map[string]string{"colour": "blue"}
	err := h.Start(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), `setting "colour": unknown`) {
		h.Stop()
		t.Fatalf("unknown setting: %v", err)
	}
	missing := schedulerSpec(t, filepath.Join(t.TempDir(), "nope"))
	if err := New("", t.TempDir()).Start(context.Background(), []Spec{missing}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing binary: %v", err)
	}
}
