package overlay

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

func TestVTEPMAC(t *testing.T) {
	a, b := vtepMAC("node-1"), vtepMAC("node-2")
	if a.String() == b.String() {
		t.Errorf("two nodes share VTEP MAC %s", a)
	}
	if a.String() != vtepMAC("node-1").String() {
		t.Error("VTEP MAC is not stable")
	}
	if a[0]&0x01 != 0 || a[0]&0x02 == 0 {
		t.Errorf("VTEP MAC %s is not unicast and locally administered", a)
	}
	if got := vtepIP(netip.MustParsePrefix("10.88.3.0/24")); got.String() != "10.88.3.0" {
		t.Errorf("vtepIP = %s", got)
	}
}

func TestPlanPeers(t *testing.T) {
	node := &nodeState{NodeName: "a", PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16"}
	b := network.Peer{NodeName: "b", NodeIP: "192.0.2.2", PodCIDR: "10.88.2.0/24", VTEPMAC: "0e:00:00:00:00:02"}
	c := network.Peer{NodeName: "c", NodeIP: "192.0.2.3", PodCIDR: "10.88.3.0/24", VTEPMAC: "0e:00:00:00:00:03"}
	self := network.Peer{NodeName: "a", NodeIP: "192.0.2.1", PodCIDR: "10.88.1.0/24", VTEPMAC: "0e:00:00:00:00:01"}
	pending := network.Peer{NodeName: "d", NodeIP: "192.0.2.4"}
	plans, err := planPeers(node, []network.Peer{c, self, b, pending})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].name != "b" || plans[1].name != "c" || plans[0].vtep.String() != "10.88.2.0" {
		t.Errorf("planPeers = %+v, want b then c", plans)
	}
	mod := func(p network.Peer, f func(*network.Peer)) network.Peer { f(&p); return p }
	for name, peers := range map[string][]network.Peer{
		"own PodCIDR":       {mod(b, func(p *network.Peer) { p.PodCIDR = "10.88.1.0/24" })},
		"inside own":        {mod(b, func(p *network.Peer) { p.PodCIDR = "10.88.1.128/25" })},
		"overlapping peers": {b, mod(c, func(p *network.Peer) { p.PodCIDR = "10.88.2.0/25" })},
		"same MAC":          {b, mod(c, func(p *network.Peer) { p.VTEPMAC = b.VTEPMAC })},
		"outside cluster":   {mod(b, func(p *network.Peer) { p.PodCIDR = "10.89.2.0/24" })},
		"cluster-wide":      {mod(b, func(p *network.Peer) { p.PodCIDR = "10.0.0.0/8" })},
		"bad MAC":           {mod(b, func(p *network.Peer) { p.VTEPMAC = "0e:00:00:00:02" })},
		"IPv6 node IP":      {mod(b, func(p *network.Peer) { p.NodeIP = "2001:db8::2" })},
		"host bits":         {mod(b, func(p *network.Peer) { p.PodCIDR = "10.88.2.1/24" })},
	} {
		if _, err := planPeers(node, peers); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: err = %v, want base.ErrInvalid", name, err)
		}
	}
}

// vxlanOf returns the plugin's VXLAN device.
func vxlanOf(t *testing.T, o *Overlay) *netlink.Vxlan {
	t.Helper()
	var vx *netlink.Vxlan
	inNode(t, o, func() error {
		link, err := netlink.LinkByName(o.cfg.vxlanDev)
		if err != nil {
			return err
		}
		var ok bool
		if vx, ok = link.(*netlink.Vxlan); !ok {
			return errors.New(o.cfg.vxlanDev + " is not a VXLAN device")
		}
		return nil
	})
	return vx
}

func TestVXLANDevice(t *testing.T) {
	o, nc := configuredNode(t)
	ctx := t.Context()
	st, err := o.SetupNode(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	vx := vxlanOf(t, o)
	if vx.VxlanId != DefaultVXLANVNI || vx.Port != DefaultVXLANPort || vx.Learning || !vx.SrcAddr.Equal(net.ParseIP(testNodeIP)) || vx.VtepDevIndex == 0 {
		t.Errorf("VXLAN device: VNI %d port %d learning %v local %s dev %d; want VNI 1, port 8472, no learning, local %s, dev eth0",
			vx.VxlanId, vx.Port, vx.Learning, vx.SrcAddr, vx.VtepDevIndex, testNodeIP)
	}
	if vx.MTU != 1450 || st.MTU != 1450 {
		t.Errorf("MTU: device %d, pods %d; want 1450 (eth0's 1500 less 50)", vx.MTU, st.MTU)
	}
	if st.VTEPMAC != vtepMAC(nc.NodeName).String() || vx.HardwareAddr.String() != st.VTEPMAC {
		t.Errorf("VTEPMAC %s, device MAC %s, want %s", st.VTEPMAC, vx.HardwareAddr, vtepMAC(nc.NodeName))
	}
	vtep := netip.MustParsePrefix(nc.PodCIDR).Addr().String() + "/32"
	inNode(t, o, func() error {
		addrs, err := netlink.AddrList(vx, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != vtep {
			t.Errorf("VXLAN addresses %v, want [%s]", addrs, vtep)
		}
		return nil
	})
	pn, err := o.SetupPod(ctx, network.PodRef{Namespace: "default", Name: "mtu", UID: "mtu-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = hostNS{path: pn.NetNSPath}.do(func() error {
		eth, err := netlink.LinkByName(pn.Interface)
		if err == nil && eth.Attrs().MTU != 1450 {
			t.Errorf("pod interface MTU %d, want 1450", eth.Attrs().MTU)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// NodeConfig.MTU is the underlay's MTU.
	small := nc
	small.MTU = 1400
	if st, err := o.SetupNode(ctx, small); err != nil || st.MTU != 1350 || vxlanOf(t, o).MTU != 1350 {
		t.Errorf("with NodeConfig.MTU 1400: status %+v, %v; device MTU %d; want 1350", st, err, vxlanOf(t, o).MTU)
	}
	// A loopback NodeIP: no overlay.
	lo := nc
	lo.NodeIP = "127.0.0.1"
	st, err = o.SetupNode(ctx, lo)
	if err != nil {
		t.Fatal(err)
	}
	if st.VTEPMAC != "" || st.MTU != DefaultMTU {
		t.Errorf("with a loopback NodeIP: %+v, want no VTEPMAC and MTU %d", st, DefaultMTU)
	}
	inNode(t, o, func() error {
		if _, err := netlink.LinkByName(o.cfg.vxlanDev); err == nil {
			t.Error("with a loopback NodeIP, the VXLAN device is still there")
		}
		return nil
	})
	if err := o.SetPeers(ctx, []network.Peer{{NodeName: "b", NodeIP: "192.0.2.2", PodCIDR: "10.199.250.0/28", VTEPMAC: "0e:00:00:00:00:02"}}); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetPeers without overlay: err = %v, want ErrNodeNotSetUp", err)
	}
	if err := o.SetPeers(ctx, nil); err != nil {
		t.Errorf("SetPeers(nil) without overlay: %v", err)
	}
	// A NodeIP that is not the node's.
	stray := nc
	stray.NodeIP = "192.0.2.99"
	if _, err := o.SetupNode(ctx, stray); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("SetupNode with a NodeIP not on the node: err = %v, want base.ErrInvalid", err)
	}
}

func TestPodMTUSetting(t *testing.T) {
	o, nc := configuredNode(t, SettingMTU, "1300")
	st, err := o.SetupNode(t.Context(), nc)
	if err != nil {
		t.Fatal(err)
	}
	if st.MTU != 1300 || vxlanOf(t, o).MTU != 1450 {
		t.Errorf("with setting mtu 1300: pods %d, VXLAN %d; want 1300 and 1450", st.MTU, vxlanOf(t, o).MTU)
	}
}

// ipShow runs "ip args..." in the node namespace.
func ipShow(t *testing.T, o *Overlay, args ...string) string {
	t.Helper()
	var out []byte
	inNode(t, o, func() (err error) {
		out, err = exec.Command("ip", args...).CombinedOutput()
		return err
	})
	return string(out)
}

func TestSetPeersConverges(t *testing.T) {
	o, nc := setUpNode(t)
	ctx := t.Context()
	dev := o.cfg.vxlanDev
	b := network.Peer{NodeName: "b", NodeIP: "192.0.2.2", PodCIDR: "10.199.251.0/28", VTEPMAC: "0e:00:00:00:00:0b"}
	c := network.Peer{NodeName: "c", NodeIP: "192.0.2.3", PodCIDR: "10.199.252.0/28", VTEPMAC: "0e:00:00:00:00:0c"}
	if err := o.SetPeers(ctx, []network.Peer{b, c}); err != nil {
		t.Fatal(err)
	}
	routes := ipShow(t, o, "route", "show", "dev", dev)
	neigh := ipShow(t, o, "neigh", "show", "dev", dev)
	fdbOut := bridgeFDB(t, o, dev)
	for _, want := range []string{"10.199.251.0/28 via 10.199.251.0 onlink", "10.199.252.0/28 via 10.199.252.0 onlink"} {
		if !strings.Contains(routes, want) {
			t.Errorf("routes on %s:\n%s\nwant %q", dev, routes, want)
		}
	}
	for _, want := range []string{"10.199.251.0 lladdr 0e:00:00:00:00:0b PERMANENT", "10.199.252.0 lladdr 0e:00:00:00:00:0c PERMANENT"} {
		if !strings.Contains(neigh, want) {
			t.Errorf("neighbours on %s:\n%s\nwant %q", dev, neigh, want)
		}
	}
	for _, want := range []string{"0e:00:00:00:00:0b dst 192.0.2.2 self permanent", "0e:00:00:00:00:0c dst 192.0.2.3 self permanent"} {
		if !strings.Contains(fdbOut, want) {
			t.Errorf("FDB of %s:\n%s\nwant %q", dev, fdbOut, want)
		}
	}

	// Someone adds a stray route and neighbour; c moves to a new node IP
	// and MAC; b goes. The next SetPeers leaves exactly c.
	inNode(t, o, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("10.199.253.0/28")), Gw: net.ParseIP("10.199.253.0"), Flags: int(netlink.FLAG_ONLINK)}); err != nil {
			return err
		}
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST, IP: net.ParseIP("10.199.253.0"), HardwareAddr: net.HardwareAddr{0x0e, 0, 0, 0, 0, 0x0d}})
	})
	moved := c
	moved.NodeIP, moved.VTEPMAC = "192.0.2.33", "0e:00:00:00:00:cc"
	if err := o.SetPeers(ctx, []network.Peer{moved}); err != nil {
		t.Fatal(err)
	}
	routes = ipShow(t, o, "route", "show", "dev", dev)
	neigh = ipShow(t, o, "neigh", "show", "dev", dev)
	fdbOut = bridgeFDB(t, o, dev)
	if got := strings.TrimSpace(routes); got != "10.199.252.0/28 via 10.199.252.0 onlink" {
		t.Errorf("after the change, routes on %s:\n%s", dev, routes)
	}
	if got := strings.TrimSpace(neigh); got != "10.199.252.0 lladdr 0e:00:00:00:00:cc PERMANENT" {
		t.Errorf("after the change, neighbours on %s:\n%s", dev, neigh)
	}
	if got := strings.TrimSpace(fdbOut); got != "0e:00:00:00:00:cc dst 192.0.2.33 self permanent" {
		t.Errorf("after the change, FDB of %s:\n%s", dev, fdbOut)
	}

	// The device made anew (a reboot): SetupNode puts the recorded peers
	// back.
	inNode(t, o, func() error { return deleteLink(dev) })
	if _, err := o.SetupNode(ctx, nc); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(bridgeFDB(t, o, dev)); got != "0e:00:00:00:00:cc dst 192.0.2.33 self permanent" {
		t.Errorf("after the device was made anew, FDB of %s:\n%s", dev, got)
	}
	if err := o.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{
		"routes": ipShow(t, o, "route", "show", "dev", dev), "neighbours": ipShow(t, o, "neigh", "show", "dev", dev), "FDB": bridgeFDB(t, o, dev),
	} {
		if strings.TrimSpace(out) != "" {
			t.Errorf("after SetPeers(nil), %s of %s:\n%s", what, dev, out)
		}
	}
}

// bridgeFDB lists the FDB entries of dev, one per line as "bridge fdb"
// prints them without the device.
func bridgeFDB(t *testing.T, o *Overlay, dev string) string {
	t.Helper()
	var out []byte
	inNode(t, o, func() (err error) {
		out, err = exec.Command("bridge", "fdb", "show", "dev", dev).CombinedOutput()
		return err
	})
	return string(out)
}
