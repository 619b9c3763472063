package overlay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/plugins/net-overlay/ipam"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/network/conformance"
)

// The tests below make real bridges, namespaces, VXLAN devices and iptables
// rules, each inside a network namespace of its own that plays the node's
// host (setting "netns"): nothing touches the machine's own namespace, and
// no packet leaves the test's namespaces (they have no default route). Each
// test removes what it made even when it fails, and checks that
// TeardownNode left nothing.

const (
	testClusterCIDR = "10.199.0.0/16"
	// testNodeIP is the address of "eth0" (MTU 1500) in a test's node
	// namespace.
	testNodeIP = "192.0.2.1"
)

// testNode returns a fresh bridge name and a /28 PodCIDR for one test.
func testNode(t *testing.T) (bridge string, nc network.NodeConfig) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	// Node subnets come from 10.199.1-199.0/28: tests use fixed peer and
	// endpoint subnets from 10.199.200.0 up, which must not overlap.
	third, err := rand.Int(rand.Reader, big.NewInt(199))
	if err != nil {
		t.Fatal(err)
	}
	bridge = "skt" + hex.EncodeToString(b[:])
	return bridge, network.NodeConfig{
		NodeName:    "test-" + bridge,
		PodCIDR:     fmt.Sprintf("10.199.%d.0/28", third.Int64()+1),
		ClusterCIDR: testClusterCIDR,
		NodeIP:      testNodeIP,
	}
}

// newNodeNS makes a network namespace for one test node, with loopback up
// and "eth0" (MTU 1500) holding testNodeIP/24, and removes it at the end of
// the test (after everything registered later).
func newNodeNS(t *testing.T) string {
	t.Helper()
	conformance.RequireRoot(t)
	path := filepath.Join(t.TempDir(), "node")
	t.Cleanup(func() {
		if err := removeNetNS(path); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := createNetNS(path); err != nil {
		t.Fatal(err)
	}
	err := hostNS{path: path}.do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		// A veth pair whose both ends stay here: the kernel may lack the
		// dummy driver.
		eth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", MTU: 1500}, PeerName: "eth0-peer"}
		if err := netlink.LinkAdd(eth); err != nil {
			return err
		}
		if err := netlink.AddrAdd(eth, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(testNodeIP + "/24"))}); err != nil {
			return err
		}
		return netlink.LinkSetUp(eth)
	})
	if err != nil {
		t.Fatalf("node namespace: %v", err)
	}
	return path
}

// newTestOverlay returns an unconfigured plugin whose node (pods, bridge,
// VXLAN device, chains, DNS server) is removed when the test ends, and
// checked to be gone.
func newTestOverlay(t *testing.T) *Overlay {
	t.Helper()
	o := New()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := o.TeardownNode(ctx); err != nil && !errors.Is(err, base.ErrNotConfigured) {
			t.Errorf("cleanup: TeardownNode: %v", err)
		}
		o.Close()
		if o.cfg != nil {
			forceRemoveNode(t, o)
		}
	})
	return o
}

// inNode runs fn in the plugin's node namespace.
func inNode(t *testing.T, o *Overlay, fn func() error) {
	t.Helper()
	if err := o.cfg.host.do(fn); err != nil {
		t.Fatal(err)
	}
}

// forceRemoveNode removes whatever TeardownNode left behind, and fails the
// test if there was anything.
func forceRemoveNode(t *testing.T, o *Overlay) {
	t.Helper()
	ctx := context.Background()
	c := o.cfg
	err := c.host.do(func() error {
		for _, name := range []string{c.bridge, c.vxlanDev} {
			if _, err := netlink.LinkByName(name); err == nil {
				t.Errorf("cleanup: link %q still there after TeardownNode", name)
				if err := deleteLink(name); err != nil {
					t.Errorf("cleanup: link %q: %v", name, err)
				}
			}
		}
		chains := nodeChains(c.bridge, "", "")
		for i := len(chains) - 1; i >= 0; i-- {
			ch := chains[i]
			present, err := o.ipt.chainExists(ctx, ch.table, ch.chain)
			if err != nil {
				t.Errorf("cleanup: chain %q: %v", ch.chain, err)
			}
			if present {
				t.Errorf("cleanup: chain %q still there after TeardownNode", ch.chain)
				if err := o.ipt.remove(ctx, ch); err != nil {
					t.Errorf("cleanup: chain %q: %v", ch.chain, err)
				}
			}
		}
		nat, err := o.ipt.chains(ctx, "nat")
		if err != nil {
			return err
		}
		if owned := ownedServiceChains(c.bridge, nat); len(owned) > 0 {
			t.Errorf("cleanup: service chains %v still there after TeardownNode", owned)
			return o.removeServiceChains(ctx, c)
		}
		return nil
	})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func TestConformance(t *testing.T) {
	conformance.RequireRoot(t)
	bridge, nc := testNode(t)
	conformance.Run(t, func(t *testing.T) network.Network {
		return newTestOverlay(t)
	}, conformance.Options{
		Node:         nc,
		Settings:     map[string]string{SettingBridge: bridge, SettingDNSUpstream: DNSUpstreamNone},
		NetNSSetting: SettingNetNS,
	})
}

// TestConformanceHostNamespace runs the suite without the netns setting, as
// "skiffd dev" runs the plugin: in the test's own namespace, with a
// loopback NodeIP (so no overlay). The subtests that need node namespaces
// skip. It makes a bridge and chains named after a random bridge in the
// machine's namespace, and restores the sysctls SetupNode turns on.
func TestConformanceHostNamespace(t *testing.T) {
	conformance.RequireRoot(t)
	for _, f := range []string{ipForwardSysctl, bridgeNFSysctl} {
		old, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		t.Cleanup(func() {
			if err := os.WriteFile(f, old, 0o644); err != nil {
				t.Errorf("cleanup: restore %s: %v", f, err)
			}
		})
	}
	bridge, nc := testNode(t)
	nc.NodeIP = "127.0.0.1"
	conformance.Run(t, func(t *testing.T) network.Network {
		return newTestOverlay(t)
	}, conformance.Options{
		Node:     nc,
		Settings: map[string]string{SettingBridge: bridge, SettingDNSUpstream: DNSUpstreamNone},
	})
}

// setUpNode configures a plugin on a new data directory and a new node
// namespace, and sets up its node.
func setUpNode(t *testing.T) (*Overlay, network.NodeConfig) {
	t.Helper()
	o, nc := configuredNode(t)
	if _, err := o.SetupNode(t.Context(), nc); err != nil {
		t.Fatalf("SetupNode: %v", err)
	}
	return o, nc
}

// configuredNode is setUpNode without SetupNode.
func configuredNode(t *testing.T, settings ...string) (*Overlay, network.NodeConfig) {
	t.Helper()
	conformance.RequireRoot(t)
	bridge, nc := testNode(t)
	nsPath := newNodeNS(t)
	dataDir := t.TempDir() // before newTestOverlay: cleanups run last first
	o := newTestOverlay(t)
	s := map[string]string{SettingBridge: bridge, SettingNetNS: nsPath, SettingDNSUpstream: DNSUpstreamNone}
	for i := 0; i+1 < len(settings); i += 2 {
		s[settings[i]] = settings[i+1]
	}
	if err := o.Configure(t.Context(), base.Config{DataDir: dataDir, Settings: s}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return o, nc
}

func bridgeAddrs(t *testing.T, o *Overlay, name string) []string {
	t.Helper()
	var out []string
	inNode(t, o, func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("bridge %q: %w", name, err)
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			out = append(out, a.IPNet.String())
		}
		return nil
	})
	return out
}

// countJumps counts the rules in parent that jump to chain.
func countJumps(t *testing.T, o *Overlay, table, parent, chain string) int {
	t.Helper()
	var out string
	inNode(t, o, func() (err error) {
		out, err = o.ipt.run(t.Context(), "-t", table, "-S", parent)
		return err
	})
	return strings.Count(out, "-j "+chain+"\n")
}

func checkNodeRules(t *testing.T, o *Overlay, nc network.NodeConfig) {
	t.Helper()
	for _, ch := range nodeChains(o.cfg.bridge, nc.PodCIDR, nc.ClusterCIDR) {
		if !ch.restored {
			var ok bool
			inNode(t, o, func() (err error) {
				ok, err = o.ipt.holdsExactly(t.Context(), ch)
				return err
			})
			if !ok {
				t.Errorf("chain %q does not hold exactly %v", ch.chain, ch.rules)
			}
		}
		for _, parent := range ch.parents {
			if n := countJumps(t, o, ch.table, parent, ch.chain); n != 1 {
				t.Errorf("%s jumps to %q %d times, want once", parent, ch.chain, n)
			}
		}
	}
}

func TestSetupNodeReconciles(t *testing.T) {
	o, nc := setUpNode(t)
	ctx := t.Context()
	bridge := o.cfg.bridge
	gw := netip.MustParsePrefix(nc.PodCIDR).Addr().Next().String() + "/28"
	if got := bridgeAddrs(t, o, bridge); len(got) != 1 || got[0] != gw {
		t.Errorf("bridge addresses = %v, want [%s]", got, gw)
	}
	inNode(t, o, func() error {
		for _, f := range []string{ipForwardSysctl, bridgeNFSysctl} {
			if v, _ := os.ReadFile(f); strings.TrimSpace(string(v)) != "1" {
				t.Errorf("%s = %q in the node namespace, want 1", f, v)
			}
		}
		return nil
	})
	checkNodeRules(t, o, nc)

	// Again: nothing doubles.
	if _, err := o.SetupNode(ctx, nc); err != nil {
		t.Fatalf("second SetupNode: %v", err)
	}
	checkNodeRules(t, o, nc)

	// A new PodCIDR replaces the gateway address and the rules.
	moved := nc
	next := netip.MustParsePrefix(nc.PodCIDR).Addr().As4()
	next[3] += 16 // the following /28
	moved.PodCIDR = netip.PrefixFrom(netip.AddrFrom4(next), 28).String()
	st, err := o.SetupNode(ctx, moved)
	if err != nil {
		t.Fatalf("SetupNode with a new PodCIDR %s: %v", moved.PodCIDR, err)
	}
	wantGW := netip.MustParsePrefix(moved.PodCIDR).Addr().Next()
	if st.GatewayIP != wantGW.String() {
		t.Errorf("GatewayIP = %s, want %s", st.GatewayIP, wantGW)
	}
	if got := bridgeAddrs(t, o, bridge); len(got) != 1 || got[0] != wantGW.String()+"/28" {
		t.Errorf("after a PodCIDR change, bridge addresses = %v, want [%s/28]", got, wantGW)
	}
	checkNodeRules(t, o, moved)
	if st.DNSIP != wantGW.String() {
		t.Errorf("after a PodCIDR change, DNSIP = %s, want %s", st.DNSIP, wantGW)
	}
	// The DNS server moved to the new gateway.
	if r := askDNS(t, o, st.DNSIP, "x.default.svc.cluster.local.", dns.TypeA, "udp"); r == nil || r.Rcode != dns.RcodeNameError {
		t.Errorf("DNS on the new gateway %s: %v, want NXDOMAIN", st.DNSIP, r)
	}

	if err := o.TeardownNode(ctx); err != nil {
		t.Fatalf("TeardownNode: %v", err)
	}
	inNode(t, o, func() error {
		if _, err := netlink.LinkByName(bridge); err == nil {
			t.Errorf("bridge %q still there after TeardownNode", bridge)
		}
		for _, ch := range nodeChains(bridge, "", "") {
			if present, _ := o.ipt.chainExists(ctx, ch.table, ch.chain); present {
				t.Errorf("chain %q still there after TeardownNode", ch.chain)
			}
		}
		return nil
	})
	for _, ch := range nodeChains(bridge, "", "") {
		for _, parent := range ch.parents {
			if n := countJumps(t, o, ch.table, parent, ch.chain); n != 0 {
				t.Errorf("%s still jumps to %q after TeardownNode", parent, ch.chain)
			}
		}
	}
	if _, err := o.SetupPod(ctx, network.PodRef{Namespace: "default", Name: "late", UID: "late"}); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetupPod after TeardownNode: err = %v, want ErrNodeNotSetUp", err)
	}
}

func TestSetupPodAfterBridgeLoss(t *testing.T) {
	o, _ := setUpNode(t)
	inNode(t, o, func() error { return deleteLink(o.cfg.bridge) })
	_, err := o.SetupPod(t.Context(), network.PodRef{Namespace: "default", Name: "nginx", UID: "u1"})
	if !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Fatalf("SetupPod without a bridge: err = %v, want ErrNodeNotSetUp", err)
	}
}

// TestSetupPodRebuildsAfterReboot simulates a node reboot: the namespace
// mounts and links are gone but the records are not. SetupPod must build
// the pod again, with the same address.
func TestSetupPodRebuildsAfterReboot(t *testing.T) {
	o, _ := setUpNode(t)
	ctx := t.Context()
	pod := network.PodRef{Namespace: "default", Name: "nginx", UID: "reboot-1"}
	before, err := o.SetupPod(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	inNode(t, o, func() error { return deleteLink(hostVethName(o.cfg.bridge, pod.UID)) })
	if err := removeNetNS(before.NetNSPath); err != nil {
		t.Fatal(err)
	}
	after, err := o.SetupPod(ctx, pod)
	if err != nil {
		t.Fatalf("SetupPod after reboot: %v", err)
	}
	if after.IPs[0] != before.IPs[0] || after.NetNSPath != before.NetNSPath {
		t.Errorf("after reboot SetupPod = %+v, want %+v", after, before)
	}
	if !isNetNS(after.NetNSPath) {
		t.Errorf("%s is not a mounted netns", after.NetNSPath)
	}
	inNode(t, o, func() error {
		if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pod.UID)); err != nil {
			t.Errorf("host veth: %v", err)
		}
		return nil
	})
}

// TestSetupPodRollsBack makes SetupPod fail after the address was taken
// (the netns directory is gone) and expects nothing to be left.
func TestSetupPodRollsBack(t *testing.T) {
	o, nc := setUpNode(t)
	ctx := t.Context()
	if err := os.RemoveAll(o.cfg.netnsDir); err != nil {
		t.Fatal(err)
	}
	pod := network.PodRef{Namespace: "default", Name: "nginx", UID: "rollback-1"}
	_, err := o.SetupPod(ctx, pod)
	if err == nil {
		t.Fatal("SetupPod with no netns directory succeeded")
	}
	if !strings.HasPrefix(err.Error(), `pod "default/nginx": `) {
		t.Errorf("error %q does not name the pod", err)
	}
	subnet := netip.MustParsePrefix(nc.PodCIDR)
	a, err := ipam.New(allocatorDir(o.cfg, subnet), subnet)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := a.Reserved(); err != nil || len(held) != 0 {
		t.Errorf("after a failed SetupPod, reservations = %v (err %v), want none", held, err)
	}
	inNode(t, o, func() error {
		if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pod.UID)); err == nil {
			t.Error("after a failed SetupPod, the host veth is still there")
		}
		return nil
	})
	if _, err := os.Stat(podFile(o.cfg, pod.UID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failed SetupPod, pod record: err = %v, want it gone", err)
	}
}

func TestTeardownNodeRemovesPods(t *testing.T) {
	o, _ := setUpNode(t)
	ctx := t.Context()
	var nets []network.PodNetwork
	for i := range 2 {
		pn, err := o.SetupPod(ctx, network.PodRef{Namespace: "default", Name: fmt.Sprintf("p%d", i), UID: fmt.Sprintf("td-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, pn)
	}
	if err := o.TeardownNode(ctx); err != nil {
		t.Fatalf("TeardownNode: %v", err)
	}
	for _, pn := range nets {
		if _, err := os.Stat(pn.NetNSPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("netns %s: err = %v, want it gone", pn.NetNSPath, err)
		}
		inNode(t, o, func() error {
			if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pn.UID)); err == nil {
				t.Errorf("veth of %s still there", pn.Name)
			}
			return nil
		})
	}
	if pods, err := o.ListPods(ctx); err != nil || len(pods) != 0 {
		t.Errorf("ListPods after TeardownNode = %v, %v; want none", pods, err)
	}
	entries, _ := os.ReadDir(filepath.Join(o.cfg.dataDir, "netns"))
	if len(entries) != 0 {
		t.Errorf("netns dir still holds %d files", len(entries))
	}
}

func TestCallsBeforeConfigure(t *testing.T) {
	o := New()
	ctx := t.Context()
	if _, err := o.SetupNode(ctx, network.NodeConfig{}); !errors.Is(err, base.ErrNotConfigured) {
		t.Errorf("SetupNode: err = %v, want ErrNotConfigured", err)
	}
	if _, err := o.SetupPod(ctx, network.PodRef{UID: "x"}); !errors.Is(err, base.ErrNotConfigured) {
		t.Errorf("SetupPod: err = %v, want ErrNotConfigured", err)
	}
	if _, err := o.ListPods(ctx); !errors.Is(err, base.ErrNotConfigured) {
		t.Errorf("ListPods: err = %v, want ErrNotConfigured", err)
	}
}
