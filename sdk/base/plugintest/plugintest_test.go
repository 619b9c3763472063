package plugintest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
)

// This test binary has no TestMain, so it is what Launch must refuse: a
// binary whose TestMain does not call Main. The tests never let Launch
// start it again: os.Args[0] points at a file that does not exist while
// they run, so a Launch that failed to refuse would fail to start the
// process, with another message, instead of running these tests again.

// recorder is a testing.TB whose failures are recorded instead of failing
// the test; Fatal ends the goroutine, as it does in a test.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// record runs fn on a recorder, in a goroutine of its own (Fatal ends it),
// and returns the failures it recorded.
func record(t *testing.T, fn func(tb testing.TB)) []string {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures
}

// noRelaunch points os.Args[0] at a file that does not exist until the
// test ends.
func noRelaunch(t *testing.T) {
	old := os.Args[0]
	os.Args[0] = filepath.Join(t.TempDir(), "not-a-test-binary")
	t.Cleanup(func() { os.Args[0] = old })
}

func TestLaunchWithoutMainFailsAtOnce(t *testing.T) {
	if mainCalled.Load() {
		t.Fatal("Main was called in this test binary, which has no TestMain")
	}
	noRelaunch(t)
	failures := record(t, func(tb testing.TB) { Launch(tb, base.KindScheduler, nil) })
	if len(failures) != 1 || !strings.Contains(failures[0], "TestMain does not call plugintest.Main") ||
		!strings.Contains(failures[0], "func TestMain(m *testing.M) { plugintest.Main(m, main) }") {
		t.Fatalf("Launch without Main failed with %q, want one failure that names the fix", failures)
	}
}

func TestLaunchFromThePluginProcessFailsAtOnce(t *testing.T) {
	noRelaunch(t)
	// As if Main had run in the parent, and this process were the re-run
	// binary whose TestMain bypassed Main.
	mainCalled.Store(true)
	t.Cleanup(func() { mainCalled.Store(false) })
	t.Setenv(runAsPlugin, "1")
	failures := record(t, func(tb testing.TB) { Launch(tb, base.KindScheduler, nil) })
	if len(failures) != 1 || !strings.Contains(failures[0], "launched as the plugin, but runs the tests") ||
		!strings.Contains(failures[0], "plugintest.Main(m, main)") {
		t.Fatalf("Launch in the plugin process failed with %q, want one failure that names the fix", failures)
	}
}

// fakePlugin is a base.Plugin whose Info is fixed.
type fakePlugin struct {
	info base.Info
	err  error
}

func (p fakePlugin) Info(context.Context) (base.Info, error)      { return p.info, p.err }
func (p fakePlugin) Configure(context.Context, base.Config) error { return nil }

func TestCheckInfo(t *testing.T) {
	good := base.Info{Kind: base.KindVolumes, Name: "volumes", Version: "1.2.3", APIVersion: 1}
	if f := record(t, func(tb testing.TB) { CheckInfo(tb, fakePlugin{info: good}, base.KindVolumes, "volumes", 1) }); len(f) != 0 {
		t.Errorf("CheckInfo of a matching Info failed: %q", f)
	}
	for name, p := range map[string]fakePlugin{
		"kind":        {info: base.Info{Kind: base.KindProbes, Name: "volumes", APIVersion: 1}},
		"name":        {info: base.Info{Kind: base.KindVolumes, Name: "other", APIVersion: 1}},
		"API version": {info: base.Info{Kind: base.KindVolumes, Name: "volumes", APIVersion: 2}},
		"error":       {err: errors.New("boom")},
	} {
		f := record(t, func(tb testing.TB) { CheckInfo(tb, p, base.KindVolumes, "volumes", 1) })
		if len(f) != 1 {
			t.Errorf("CheckInfo with a wrong %s: failures %q, want one", name, f)
		}
	}
}
