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
	t.Helper()
	plugintest.RunBinary(t, plugintest.Binary{
		Kind: base.KindScheduler, Name: name, APIVersion: scheduler.APIVersion, Versions: scheduler.ClientVersions(),
	}, func(t *testing.T, launch func(*testing.T) scheduler.Scheduler) {
		Run(t, launch)
	})
}
