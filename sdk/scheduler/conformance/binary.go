package conformance

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// RunBinary tests the plugin binary itself, loaded the way the core loads
// it: a separate process, go-plugin's handshake, version negotiation and
// AutoMTLS. It re-runs the test binary as the plugin (plugintest.Launch),
// so call it from a test in the plugin's main package whose TestMain is
// plugintest.Main(m, main):
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) { conformance.RunBinary(t, "spread") }
//
// Its subtests are "Info", which checks that the process reports the
// scheduler kind, name and the SDK's API version, and "Conformance", which
// runs the suite (Run) against a new plugin process per case; under
// `go test -short` that one is skipped (fails when CI is set, as
// plugintest.SkipIfShort).
func RunBinary(t *testing.T, name string) {
	t.Run("Info", func(t *testing.T) {
		info, err := launch(t).Info(ctx(t))
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		if info.Kind != base.KindScheduler || info.Name != name || info.APIVersion != scheduler.APIVersion {
			t.Fatalf("Info = %+v, want the %s scheduler at API version %d", info, name, scheduler.APIVersion)
		}
	})
	t.Run("Conformance", func(t *testing.T) {
		plugintest.SkipIfShort(t, "starts one plugin process per case")
		Run(t, launch)
	})
}

// launch starts the test binary as the plugin and returns the host's
// client to it; the process is killed when t ends.
func launch(t *testing.T) scheduler.Scheduler {
	t.Helper()
	return plugintest.Launch(t, base.KindScheduler, scheduler.ClientVersions()).(scheduler.Scheduler)
}
