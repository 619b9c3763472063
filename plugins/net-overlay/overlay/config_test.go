package overlay

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(base.Config{DataDir: "/var/lib/skiff/net"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.bridge != DefaultBridge || cfg.mtu != DefaultMTU || cfg.netnsDir != filepath.Join("/var/lib/skiff/net", "netns") {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestParseConfigRejects(t *testing.T) {
	for name, bc := range map[string]base.Config{
		"no data dir":       {},
		"relative data dir": {DataDir: "data"},
		"unknown setting":   {DataDir: "/d", Settings: map[string]string{"colour": "blue"}},
		"long bridge":       {DataDir: "/d", Settings: map[string]string{"bridge": "a-very-long-bridge"}},
		"bridge with slash": {DataDir: "/d", Settings: map[string]string{"bridge": "br/0"}},
		"mtu not a number":  {DataDir: "/d", Settings: map[string]string{"mtu": "big"}},
		"mtu too small":     {DataDir: "/d", Settings: map[string]string{"mtu": "100"}},
		"relative netns":    {DataDir: "/d", Settings: map[string]string{"netns_dir": "netns"}},
	} {
		if _, err := parseConfig(bc); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: err = %v, want one wrapping base.ErrInvalid", name, err)
		}
	}
}

func TestPlanNode(t *testing.T) {
	p, err := planNode(network.NodeConfig{NodeName: "n", PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	if p.gateway.String() != "10.88.1.1/24" {
		t.Errorf("gateway = %s, want 10.88.1.1/24", p.gateway)
	}
	for name, nc := range map[string]network.NodeConfig{
		"bad pod CIDR":         {PodCIDR: "nope", ClusterCIDR: "10.88.0.0/16"},
		"host bits set":        {PodCIDR: "10.88.1.5/24", ClusterCIDR: "10.88.0.0/16"},
		"IPv6":                 {PodCIDR: "fd00::/64", ClusterCIDR: "fd00::/48"},
		"too small":            {PodCIDR: "10.88.1.0/31", ClusterCIDR: "10.88.0.0/16"},
		"outside cluster":      {PodCIDR: "10.89.1.0/24", ClusterCIDR: "10.88.0.0/16"},
		"cluster smaller":      {PodCIDR: "10.88.0.0/16", ClusterCIDR: "10.88.1.0/24"},
		"missing cluster CIDR": {PodCIDR: "10.88.1.0/24"},
		"bad node IP":          {PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", NodeIP: "node-1"},
	} {
		if _, err := planNode(nc); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: err = %v, want one wrapping base.ErrInvalid", name, err)
		}
	}
}

func TestHostVethName(t *testing.T) {
	a := hostVethName("skiff0", "6f1c2a9e-7d1b-4c55-9a0e-2b8f1e3d4c5a")
	if len(a) > 15 {
		t.Errorf("%q is longer than 15 characters", a)
	}
	if a != hostVethName("skiff0", "6f1c2a9e-7d1b-4c55-9a0e-2b8f1e3d4c5a") {
		t.Error("not deterministic")
	}
	if a == hostVethName("skt1", "6f1c2a9e-7d1b-4c55-9a0e-2b8f1e3d4c5a") {
		t.Error("two bridges give one pod the same veth name")
	}
}

func TestCheckUID(t *testing.T) {
	for _, ok := range []string{"6f1c2a9e-7d1b-4c55-9a0e-2b8f1e3d4c5a", "pod_1.a"} {
		if err := checkUID(ok); err != nil {
			t.Errorf("checkUID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../etc", "a/b", "a b"} {
		if err := checkUID(bad); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("checkUID(%q) = %v, want base.ErrInvalid", bad, err)
		}
	}
}

func TestNodeChainNamesFitIPTables(t *testing.T) {
	for _, ch := range nodeChains("fifteen-chars-x", "10.88.1.0/24", "10.88.0.0/16") {
		if len(ch.chain) > 28 {
			t.Errorf("chain %q is longer than iptables' 28 characters", ch.chain)
		}
	}
}
