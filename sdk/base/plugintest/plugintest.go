// Package plugintest lets a plugin's own tests load the plugin the way the
// core does: its test binary re-runs itself as the plugin process, and the
// test talks to it through go-plugin's handshake, version negotiation and
// AutoMTLS.
//
// Most plugins need nothing of it but Main: each kind's conformance package
// has a RunBinary that launches the binary, checks its Info and runs the
// kind's suite against it. All of a plugin's main_test.go is then
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) { conformance.RunBinary(t, "myplugin") }
//
// (the runtime and network RunBinary also take the suite's Options). For
// tests of your own against the process, Launch returns what the host
// dispenses, and CheckInfo checks its Info:
//
//	s := plugintest.Launch(t, base.KindScheduler, scheduler.ClientVersions()).(scheduler.Scheduler)
//
// Launch needs plugintest.Main in the package's TestMain: without it the
// re-run binary would run the tests again instead of the plugin, so Launch
// fails at once, naming the fix.
package plugintest

import (
	"context"
	"os"
	"os/exec"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
)

// runAsPlugin tells a re-run test binary to act as the plugin.
const runAsPlugin = "SKIFF_TEST_RUN_AS_PLUGIN"

// mainCalled records that this test binary's TestMain went through Main,
// so that a re-run of it serves the plugin instead of running the tests.
var mainCalled atomic.Bool

// Main runs pluginMain instead of the tests when the binary was launched by
// Launch, and the tests otherwise. Call it from the TestMain of the
// plugin's main package, with the package's main:
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
// A TestMain with more to do (such as a plugin that re-runs its own binary
// as a helper process) does that first, then calls Main.
func Main(m *testing.M, pluginMain func()) {
	if os.Getenv(runAsPlugin) == "1" {
		pluginMain()
		return
	}
	mainCalled.Store(true)
	os.Exit(m.Run())
}

// errNoMain is why Launch refuses to start a test binary whose TestMain
// does not call Main.
const errNoMain = "plugintest: this test binary's TestMain does not call plugintest.Main, " +
	"so the binary it would launch as the plugin would run the tests again (and launch itself again, until the tests time out) " +
	"instead of serving the plugin; add to the plugin's main package:\n\n" +
	"\tfunc TestMain(m *testing.M) { plugintest.Main(m, main) }"

// requireMain fails t unless this test binary's TestMain called Main.
func requireMain(t testing.TB) {
	t.Helper()
	if os.Getenv(runAsPlugin) == "1" {
		// Only a binary whose TestMain bypassed Main gets here: it was
		// launched as the plugin and runs the tests instead.
		t.Fatalf("%s\n(this process was launched as the plugin, but runs the tests)", errNoMain)
	}
	if !mainCalled.Load() {
		t.Fatalf("%s", errNoMain)
	}
}

// Launch starts the test binary as the plugin and returns what the host
// dispenses for kind; the process is killed when the test ends. The test
// binary's TestMain must call Main; Launch fails the test at once when it
// did not.
func Launch(t testing.TB, kind base.Kind, versions map[int]plugin.Plugin) any {
	t.Helper()
	requireMain(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runAsPlugin+"=1")
	client := plugin.NewClient(base.ClientConfig(kind, cmd, versions))
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start %s plugin: %v", kind, err)
	}
	raw, err := rpc.Dispense(string(kind))
	if err != nil {
		t.Fatalf("dispense %s plugin: %v", kind, err)
	}
	return raw
}

// CheckInfo calls p's Info and fails t unless it reports kind, name and
// apiVersion (the SDK's APIVersion of the kind).
func CheckInfo(t testing.TB, p base.Plugin, kind base.Kind, name string, apiVersion int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := p.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != kind || info.Name != name || info.APIVersion != apiVersion {
		t.Fatalf("Info = %+v, want the %s %s plugin at API version %d", info, name, kind, apiVersion)
	}
}

// Binary is the plugin binary a kind's conformance.RunBinary tests: what
// its Info must report, and what the host offers it.
type Binary struct {
	Kind base.Kind
	// Name is the Info.Name the plugin must report.
	Name string
	// APIVersion is the SDK's APIVersion of the kind.
	APIVersion int
	// Versions is what the host passes to base.ClientConfig: the kind's
	// ClientVersions().
	Versions map[int]plugin.Plugin
}

// RunBinary is the part of each kind's conformance.RunBinary that is the
// same for every kind; use that one, not this. It runs two subtests
// against the test binary launched as the plugin (Launch):
//
//   - "Info" checks the process's Info (CheckInfo);
//   - "Conformance" calls suite with a launch function that starts a new
//     plugin process per call, dispensed as a P (the kind's interface).
//     Under `go test -short` it is skipped, or fails when CI is set
//     (SkipIfShort).
func RunBinary[P base.Plugin](t *testing.T, b Binary, suite func(t *testing.T, launch func(t *testing.T) P)) {
	t.Helper()
	requireMain(t) // once, rather than in every subtest
	launch := func(t *testing.T) P {
		t.Helper()
		raw := Launch(t, b.Kind, b.Versions)
		p, ok := raw.(P)
		if !ok {
			t.Fatalf("the %s plugin dispensed %T, not a %v", b.Kind, raw, reflect.TypeFor[P]())
		}
		return p
	}
	t.Run("Info", func(t *testing.T) {
		CheckInfo(t, launch(t), b.Kind, b.Name, b.APIVersion)
	})
	t.Run("Conformance", func(t *testing.T) {
		SkipIfShort(t, "runs the conformance suite against new plugin processes")
		suite(t, launch)
	})
}

// SkipIfShort skips a slow test (one that builds or starts plugin
// processes) under `go test -short`, except when CI is set in the
// environment: there every test must run, so it fails instead.
func SkipIfShort(t testing.TB, why string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: -short skips it, but CI is set, so it fails instead", why)
	}
	t.Skip(why)
}
