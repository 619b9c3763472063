// Package plugintest lets a plugin's own tests load the plugin the way the
// core does: its test binary re-runs itself as the plugin process, and the
// test talks to it through go-plugin's handshake, version negotiation and
// AutoMTLS. Use it from the plugin's main package:
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) {
//		s := plugintest.Launch(t, base.KindScheduler, scheduler.ClientVersions()).(scheduler.Scheduler)
//		...
//	}
package plugintest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
)

// runAsPlugin tells a re-run test binary to act as the plugin.
const runAsPlugin = "SKIFF_TEST_RUN_AS_PLUGIN"

// Main runs pluginMain instead of the tests when the binary was launched by
// Launch, and the tests otherwise.
func Main(m *testing.M, pluginMain func()) {
	if os.Getenv(runAsPlugin) == "1" {
		pluginMain()
		return
	}
	os.Exit(m.Run())
}

// Launch starts the test binary as the plugin and returns what the host
// dispenses for kind; the process is killed when the test ends.
func Launch(t testing.TB, kind base.Kind, versions map[int]plugin.Plugin) any {
	t.Helper()
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
