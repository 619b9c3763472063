package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/network"
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
//		conformance.RunBinary(t, "mynet", conformance.Options{
//			Node:         network.NodeConfig{NodeName: "conf", PodCIDR: "10.199.7.0/28", ClusterCIDR: "10.199.0.0/16"},
//			Settings:     map[string]string{"bridge": "sktest7"},
//			NetNSSetting: "netns",
//		})
//	}
//
// Its subtests are "Info", which checks that the process reports the
// network kind, name and the SDK's API version (it needs no root), and
// "Conformance", which runs the suite (Run) with opts against a new plugin
// process per instance the suite needs; under `go test -short` that one is
// skipped (fails when CI is set, as plugintest.SkipIfShort), and like Run
// it needs root. Each process is asked to TeardownNode before it is
// killed, which is the clean-up Run leaves to the factory.
func RunBinary(t *testing.T, name string, opts Options) {
	t.Helper()
	plugintest.RunBinary(t, plugintest.Binary{
		Kind: base.KindNetwork, Name: name, APIVersion: network.APIVersion, Versions: network.ClientVersions(),
	}, func(t *testing.T, launch func(*testing.T) network.Network) {
		Run(t, func(t *testing.T) network.Network {
			n := launch(t)
			// Registered after Launch's kill of the process, so it runs
			// before it, and after the suite has torn its pods down.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), timeout(opts))
				defer cancel()
				if err := n.TeardownNode(ctx); err != nil && !errors.Is(err, base.ErrNotConfigured) {
					t.Errorf("cleanup: TeardownNode: %v", err)
				}
			})
			return n
		}, opts)
	})
}

// timeout is opts.Timeout with Run's default.
func timeout(opts Options) time.Duration {
	if opts.Timeout == 0 {
		return 30 * time.Second
	}
	return opts.Timeout
}
