package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/sdk/base"
)

// teardownNodeNetwork removes the bridge, links and iptables chains the
// network plugin made for a test node, with the plugin's own teardown, so
// a failed test leaves nothing on the host.
func teardownNodeNetwork(t *testing.T, agentDataDir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := overlay.New()
	cfg := base.Config{NodeName: "skiff-e2e", DataDir: filepath.Join(agentDataDir, "plugins", "network"), Settings: map[string]string{"bridge": testBridge}}
	if err := o.Configure(ctx, cfg); err != nil {
		t.Logf("tear down test node network: configure: %v", err)
		return
	}
	if err := o.TeardownNode(ctx); err != nil {
		t.Logf("tear down test node network: %v", err)
	}
}
