package conformance

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// RunBinary tests the plugin binary itself, loaded the way the core loads
// it: a separate process, go-plugin's handshake, version negotiation and
// AutoMTLS. It re-runs the test binary as the plugin (plugintest.Launch),
// so call it from a test in the plugin's main package whose TestMain is
// plugintest.Main(m, main), with the Options Run takes:
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) {
//		conformance.RunBinary(t, "myruntime", conformance.Options{
//			ImageArchive: archive, ImageRef: "skiff.test/busybox:1",
//			Settings:     map[string]string{"address": socket},
//		})
//	}
//
// Its subtests are "Info", which checks that the process reports the
// runtime kind, name and the SDK's API version, and "Conformance", which
// runs the suite (Run) with opts against one plugin process; under
// `go test -short` that one is skipped (fails when CI is set, as
// plugintest.SkipIfShort). The process is the test binary, not the file
// `make build` installs: a setting whose default is found beside the
// plugin's executable must be given in opts.Settings.
func RunBinary(t *testing.T, name string, opts Options) {
	t.Helper()
	plugintest.RunBinary(t, plugintest.Binary{
		Kind: base.KindRuntime, Name: name, APIVersion: runtime.APIVersion, Versions: runtime.ClientVersions(),
	}, func(t *testing.T, launch func(*testing.T) runtime.Runtime) {
		Run(t, launch, opts)
	})
}
