package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/network/conformance"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// TestBinary checks the plugin process's Info (no root needed) and runs
// the conformance suite against plugin processes, each node in a network
// namespace of its own (setting "netns"), as overlay's TestConformance
// does in process: nothing touches the machine's own namespace.
func TestBinary(t *testing.T) {
	bridge, podCIDR := randomNode(t)
	conformance.RunBinary(t, "net-overlay", conformance.Options{
		Node: network.NodeConfig{
			NodeName: "test-" + bridge, PodCIDR: podCIDR, ClusterCIDR: "10.199.0.0/16",
		},
		Settings:     map[string]string{overlay.SettingBridge: bridge, overlay.SettingDNSUpstream: overlay.DNSUpstreamNone},
		NetNSSetting: overlay.SettingNetNS,
	})
}

// TestBinaryConfigureRefusesARelativeDataDir checks that the plugin
// process refuses a relative data directory with an error that keeps its
// sentinel, base.ErrInvalid, across the process boundary. It needs no
// root: no links are made.
func TestBinaryConfigureRefusesARelativeDataDir(t *testing.T) {
	n := plugintest.Launch(t, base.KindNetwork, network.ClientVersions()).(network.Network)
	if err := n.Configure(context.Background(), base.Config{NodeName: "n1", DataDir: "relative"}); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("Configure with a relative data dir: err = %v, want base.ErrInvalid", err)
	}
}

// randomNode returns a fresh bridge name and a /28 PodCIDR in
// 10.199.1-199.0/28 (the suite's second node takes the /28 after it).
func randomNode(t *testing.T) (bridge, podCIDR string) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	third, err := rand.Int(rand.Reader, big.NewInt(199))
	if err != nil {
		t.Fatal(err)
	}
	return "skt" + hex.EncodeToString(b[:]), fmt.Sprintf("10.199.%d.0/28", third.Int64()+1)
}
