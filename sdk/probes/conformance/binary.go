package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/probes/fake"
)

// RunBinary tests the plugin binary itself, loaded the way the core loads
// it: a separate process, go-plugin's handshake, version negotiation and
// AutoMTLS. It re-runs the test binary as the plugin (plugintest.Launch),
// so call it from a test in the plugin's main package whose TestMain is
// plugintest.Main(m, main):
//
//	func TestMain(m *testing.M) { plugintest.Main(m, main) }
//
//	func TestBinary(t *testing.T) { conformance.RunBinary(t, "myprobes") }
//
// Its subtests are "Info", which checks that the process reports the
// probes kind, name and the SDK's API version; "Conformance", which runs
// the suite (Run) against a new plugin process per case (under
// `go test -short` it is skipped, or fails when CI is set, as
// plugintest.SkipIfShort); and "ExecThroughHost", which runs an exec probe
// in the plugin process through a Host the test offers over go-plugin's
// broker, as the core offers its own. (Run's case of that name cannot
// reach a plugin process: it hands the Host to the implementation, which
// here is the host's client.) A plugin that runs no exec probes rejects
// them with base.ErrUnsupported, and that subtest skips.
func RunBinary(t *testing.T, name string) {
	t.Helper()
	b := plugintest.Binary{Kind: base.KindProbes, Name: name, APIVersion: probes.APIVersion, Versions: probes.ClientVersions()}
	plugintest.RunBinary(t, b, func(t *testing.T, launch func(*testing.T) probes.Prober) {
		Run(t, launch)
	})
	t.Run("ExecThroughHost", testBinaryExecThroughHost)
}

// testBinaryExecThroughHost is Run's ExecThroughHost against a plugin
// process, launched with the test's Host.
func testBinaryExecThroughHost(t *testing.T) {
	var exit atomic.Int32
	var bad atomic.Value
	calls := make(chan struct{}, 1)
	host := &fake.Host{ExecFunc: func(_ context.Context, id string, cmd []string, timeout time.Duration) (int, []byte, error) {
		if id != "exec" || fmt.Sprint(cmd) != "[cat /tmp/healthy]" || timeout <= 0 {
			bad.Store(fmt.Sprintf("Host.Exec(%q, %q, %v)", id, cmd, timeout))
		}
		select {
		case calls <- struct{}{}:
		default:
		}
		return int(exit.Load()), []byte("cat: /tmp/healthy: No such file or directory\n"), nil
	}}
	p := plugintest.Launch(t, base.KindProbes, probes.ClientVersionsWithHost(host)).(probes.Prober)
	if err := p.Configure(ctx(t), base.Config{NodeName: "conformance", DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	ch := subscribe(t, p)
	c := container("exec")
	c.Liveness = fastProbe()
	c.Liveness.Exec = []string{"cat", "/tmp/healthy"}
	if err := p.AddContainer(ctx(t), c); errors.Is(err, base.ErrUnsupported) {
		t.Skipf("the plugin runs no exec probes: AddContainer: %v", err)
	} else if err != nil {
		t.Fatalf("AddContainer(%q): %v", c.ContainerID, err)
	}
	expect(t, ch, "exec", probes.Liveness, true)
	select {
	case <-calls:
	default:
		t.Fatal("the exec probe succeeded without calling the Host")
	}
	exit.Store(1)
	expect(t, ch, "exec", probes.Liveness, false)
	if b := bad.Load(); b != nil {
		t.Fatalf("the plugin called %s, want (\"exec\", [cat /tmp/healthy], the probe's timeout)", b)
	}
}
