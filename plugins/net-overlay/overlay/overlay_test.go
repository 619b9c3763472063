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

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/plugins/net-overlay/ipam"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/network/conformance"
)

// The tests below make real bridges, namespaces and iptables rules. Each
// uses a bridge "skt<random>" and a PodCIDR in 10.199.0.0/16 so a running
// skiff (skiff0, its own CIDRs, SKIFF-*-skiff0 chains) is never touched,
// and removes what it made even when it fails.

const testClusterCIDR = "10.199.0.0/16"

// testNode returns a fresh bridge name and a /28 PodCIDR for one test.
func testNode(t *testing.T) (bridge string, nc network.NodeConfig) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	third, err := rand.Int(rand.Reader, big.NewInt(254))
	if err != nil {
		t.Fatal(err)
	}
	bridge = "skt" + hex.EncodeToString(b[:])
	return bridge, network.NodeConfig{
		NodeName:    "test-" + bridge,
		PodCIDR:     fmt.Sprintf("10.199.%d.0/28", third.Int64()+1),
		ClusterCIDR: testClusterCIDR,
		NodeIP:      "127.0.0.1",
	}
}

// keepIPForward restores net.ipv4.ip_forward after the test, since
// SetupNode turns it on for the whole host.
func keepIPForward(t *testing.T) {
	t.Helper()
	old, err := os.ReadFile(ipForwardSysctl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(ipForwardSysctl, old, 0o644); err != nil {
			t.Errorf("cleanup: restore %s: %v", ipForwardSysctl, err)
		}
	})
}

// newTestOverlay returns an unconfigured plugin whose node (pods, bridge,
// chains) is removed when the test ends, and checked to be gone.
func newTestOverlay(t *testing.T, bridge string) *Overlay {
	t.Helper()
	o := New()
	t.Cleanup(func() {
		ctx := context.Background()
		if err := o.TeardownNode(ctx); err != nil && !errors.Is(err, base.ErrNotConfigured) {
			t.Errorf("cleanup: TeardownNode: %v", err)
		}
		forceRemoveNode(t, o, bridge)
	})
	return o
}

// forceRemoveNode removes whatever TeardownNode left behind, and fails the
// test if there was anything.
func forceRemoveNode(t *testing.T, o *Overlay, bridge string) {
	t.Helper()
	ctx := context.Background()
	if _, err := netlink.LinkByName(bridge); err == nil {
		t.Errorf("cleanup: bridge %q still there after TeardownNode", bridge)
		if err := deleteLink(bridge); err != nil {
			t.Errorf("cleanup: bridge %q: %v", bridge, err)
		}
	}
	for _, ch := range nodeChains(bridge, "", "") {
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
}

func TestConformance(t *testing.T) {
	conformance.RequireRoot(t)
	keepIPForward(t)
	bridge, nc := testNode(t)
	conformance.Run(t, func(t *testing.T) network.Network {
		return newTestOverlay(t, bridge)
	}, conformance.Options{
		Node:     nc,
		Settings: map[string]string{SettingBridge: bridge},
	})
}

// setUpNode configures a plugin on a new data directory and sets up its node.
func setUpNode(t *testing.T) (*Overlay, network.NodeConfig) {
	t.Helper()
	conformance.RequireRoot(t)
	keepIPForward(t)
	bridge, nc := testNode(t)
	dataDir := t.TempDir() // before newTestOverlay: cleanups run last first
	o := newTestOverlay(t, bridge)
	ctx := t.Context()
	if err := o.Configure(ctx, base.Config{DataDir: dataDir, Settings: map[string]string{SettingBridge: bridge}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if _, err := o.SetupNode(ctx, nc); err != nil {
		t.Fatalf("SetupNode: %v", err)
	}
	return o, nc
}

func bridgeAddrs(t *testing.T, name string) []string {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatalf("bridge %q: %v", name, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

// countJumps counts the rules in parent that jump to chain.
func countJumps(t *testing.T, o *Overlay, ch chainRules) int {
	t.Helper()
	out, err := o.ipt.run(t.Context(), "-t", ch.table, "-S", ch.parent)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(out, "-j "+ch.chain+"\n")
}

func checkNodeRules(t *testing.T, o *Overlay, nc network.NodeConfig) {
	t.Helper()
	for _, ch := range nodeChains(o.cfg.bridge, nc.PodCIDR, nc.ClusterCIDR) {
		ok, err := o.ipt.holdsExactly(t.Context(), ch)
		if err != nil || !ok {
			t.Errorf("chain %q does not hold exactly %v (err %v)", ch.chain, ch.rules, err)
		}
		if n := countJumps(t, o, ch); n != 1 {
			t.Errorf("%s jumps to %q %d times, want once", ch.parent, ch.chain, n)
		}
	}
}

func TestSetupNodeReconciles(t *testing.T) {
	o, nc := setUpNode(t)
	ctx := t.Context()
	bridge := o.cfg.bridge
	gw := netip.MustParsePrefix(nc.PodCIDR).Addr().Next().String() + "/28"
	if got := bridgeAddrs(t, bridge); len(got) != 1 || got[0] != gw {
		t.Errorf("bridge addresses = %v, want [%s]", got, gw)
	}
	if fwd, _ := os.ReadFile(ipForwardSysctl); strings.TrimSpace(string(fwd)) != "1" {
		t.Errorf("ip_forward = %q, want 1", fwd)
	}
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
	if got := bridgeAddrs(t, bridge); len(got) != 1 || got[0] != wantGW.String()+"/28" {
		t.Errorf("after a PodCIDR change, bridge addresses = %v, want [%s/28]", got, wantGW)
	}
	checkNodeRules(t, o, moved)

	if err := o.TeardownNode(ctx); err != nil {
		t.Fatalf("TeardownNode: %v", err)
	}
	if _, err := netlink.LinkByName(bridge); err == nil {
		t.Errorf("bridge %q still there after TeardownNode", bridge)
	}
	for _, ch := range nodeChains(bridge, "", "") {
		if present, _ := o.ipt.chainExists(ctx, ch.table, ch.chain); present {
			t.Errorf("chain %q still there after TeardownNode", ch.chain)
		}
		if n := countJumps(t, o, ch); n != 0 {
			t.Errorf("%s still jumps to %q after TeardownNode", ch.parent, ch.chain)
		}
	}
	if _, err := o.SetupPod(ctx, network.PodRef{Namespace: "default", Name: "late", UID: "late"}); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetupPod after TeardownNode: err = %v, want ErrNodeNotSetUp", err)
	}
}

func TestSetupPodAfterBridgeLoss(t *testing.T) {
	o, _ := setUpNode(t)
	if err := deleteLink(o.cfg.bridge); err != nil {
		t.Fatal(err)
	}
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
	if err := deleteLink(hostVethName(o.cfg.bridge, pod.UID)); err != nil {
		t.Fatal(err)
	}
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
	if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pod.UID)); err != nil {
		t.Errorf("host veth: %v", err)
	}
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
	if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pod.UID)); err == nil {
		t.Error("after a failed SetupPod, the host veth is still there")
	}
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
		if _, err := netlink.LinkByName(hostVethName(o.cfg.bridge, pn.UID)); err == nil {
			t.Errorf("veth of %s still there", pn.Name)
		}
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
