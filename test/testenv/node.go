package testenv

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/sdk/base"
)

// TeardownNode removes what a node agent's plugins left on the host when a
// test or benchmark ended before its pods were gone: the runtime's sandbox
// namespace mounts, and the network plugin's bridge, links and iptables
// chains, each with the plugin's own teardown. agentDataDir is the agent's
// --data-dir and bridge its --pod-bridge.
func TeardownNode(t testing.TB, agentDataDir, bridge string) {
	if err := containerdruntime.TeardownNode(filepath.Join(agentDataDir, "plugins", "runtime")); err != nil {
		t.Logf("tear down node sandboxes: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := overlay.New()
	cfg := base.Config{DataDir: filepath.Join(agentDataDir, "plugins", "network"), Settings: map[string]string{"bridge": bridge}}
	if err := o.Configure(ctx, cfg); err != nil {
		t.Logf("tear down node network: configure: %v", err)
		return
	}
	if err := o.TeardownNode(ctx); err != nil {
		t.Logf("tear down node network: %v", err)
	}
}
