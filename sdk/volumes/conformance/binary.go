package conformance

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// RunBinary tests the plugin binary itself, loaded the way the core loads
// it: a separate process, go-plugin's handshake, version negotiation and
// AutoMTLS. It re-runs the test binary as the plugin (plugintest.Launch),
// so call it from a test in the plugin's main package whose TestMain is
// plugintest.Main(m, main):
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) { conformance.RunBinary(t, "myvolumes") }
//
// Its subtests are "Info", which checks that the process reports the
// volumes kind, name and the SDK's API version, and "Conformance", which
// runs the suite (Run) against a new plugin process per case; under
// `go test -short` that one is skipped (fails when CI is set, as
// plugintest.SkipIfShort). The plugin process shares the test's mount
// namespace, so the suite sees and cleans up the mounts it makes; the
// mounting cases need root, as they do in Run.
func RunBinary(t *testing.T, name string) {
	t.Helper()
	plugintest.RunBinary(t, plugintest.Binary{
		Kind: base.KindVolumes, Name: name, APIVersion: volumes.APIVersion, Versions: volumes.ClientVersions(),
	}, func(t *testing.T, launch func(*testing.T) volumes.Volumes) {
		Run(t, launch)
	})
}
