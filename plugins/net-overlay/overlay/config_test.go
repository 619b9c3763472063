package overlay

import (
	"errors"
	"net/netip"
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
	if cfg.bridge != DefaultBridge || cfg.mtu != 0 || cfg.netnsDir != filepath.Join("/var/lib/skiff/net", "netns") ||
		cfg.host.path != "" || cfg.vxlanDev != DefaultVXLANDevice || cfg.vni != DefaultVXLANVNI || cfg.vxlanPort != DefaultVXLANPort {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = parseConfig(base.Config{DataDir: "/d", Settings: map[string]string{
		SettingMTU: "1400", SettingVXLANVNI: "42", SettingVXLANPort: "4789", SettingVXLANDevice: "vx42", SettingDNSUpstream: "192.0.2.53",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.mtu != 1400 || cfg.vni != 42 || cfg.vxlanPort != 4789 || cfg.vxlanDev != "vx42" || len(cfg.upstreams) != 1 || cfg.upstreams[0] != "192.0.2.53:53" {
		t.Errorf("settings = %+v", cfg)
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
		"relative node ns":  {DataDir: "/d", Settings: map[string]string{"netns": "node"}},
		"node ns not a ns":  {DataDir: "/d", Settings: map[string]string{"netns": "/etc/hostname"}},
		"VNI 0":             {DataDir: "/d", Settings: map[string]string{"vxlan_vni": "0"}},
		"VNI too big":       {DataDir: "/d", Settings: map[string]string{"vxlan_vni": "16777216"}},
		"port 70000":        {DataDir: "/d", Settings: map[string]string{"vxlan_port": "70000"}},
		"VXLAN = bridge":    {DataDir: "/d", Settings: map[string]string{"vxlan_device": "skiff0"}},
		"long VXLAN name":   {DataDir: "/d", Settings: map[string]string{"vxlan_device": "a-very-long-vxlan"}},
		"upstream by name":  {DataDir: "/d", Settings: map[string]string{"dns_upstream": "dns.example"}},
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
	if p.gateway.String() != "10.88.1.1/24" || p.domain != "cluster.local" || p.overlay {
		t.Errorf("plan = %+v, want gateway 10.88.1.1/24, domain cluster.local, no overlay", p)
	}
	for ip, overlay := range map[string]bool{"": false, "127.0.0.1": false, "192.0.2.1": true} {
		p, err := planNode(network.NodeConfig{PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", NodeIP: ip, ClusterDomain: "Corp.Example."})
		if err != nil || p.overlay != overlay || p.domain != "corp.example" {
			t.Errorf("NodeIP %q: overlay %v, domain %q, err %v; want overlay %v, domain corp.example", ip, p.overlay, p.domain, err, overlay)
		}
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
		"IPv6 node IP":         {PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", NodeIP: "2001:db8::1"},
		"MTU too small":        {PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", MTU: 600},
		"bad domain":           {PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", ClusterDomain: "cluster..local"},
		"domain with _":        {PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", ClusterDomain: "my_cluster.local"},
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
	s := &svcPlan{namespace: "a-namespace-name-of-sixty-three-characters-which-is-the-longest", name: "n"}
	p := &portPlan{name: "p", protocol: "tcp"}
	for _, ch := range []string{svcChainName("fifteen-chars-x", s, p), sepChainName("fifteen-chars-x", s, p, netip.MustParseAddrPort("10.0.0.1:80"))} {
		if len(ch) > 28 {
			t.Errorf("chain %q is longer than iptables' 28 characters", ch)
		}
	}
}
