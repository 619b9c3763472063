package overlay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// vxlanOverhead is what VXLAN over IPv4 adds to a packet: outer IPv4 (20),
// UDP (8), VXLAN (8) and inner Ethernet (14) headers.
const vxlanOverhead = 50

// vtepMAC is the node's VXLAN device MAC: derived from the node name, so it
// stays the same when the device is made again (after a reboot, or a
// TeardownNode and SetupNode) and peers' entries stay valid. It is a
// unicast, locally administered address.
func vtepMAC(nodeName string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("skiff vtep " + nodeName))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// vtepIP is a node's VTEP address: the network address of its PodCIDR
// (10.88.1.0 for 10.88.1.0/24), which the pod allocator never hands out,
// as flannel does.
func vtepIP(podCIDR netip.Prefix) netip.Addr {
	return podCIDR.Masked().Addr()
}

// vxlanSpec is the node's VXLAN device as it must be.
type vxlanSpec struct {
	name     string
	vni      int
	port     int
	local    netip.Addr
	underlay int // ifindex of the link that holds local
	mac      net.HardwareAddr
	mtu      int
	addr     netip.Prefix // the VTEP address, a /32
}

// ensureVXLAN makes the device, or corrects it. A device whose VNI, port,
// local address or underlay differ is made anew (the kernel cannot change
// them), which drops every peer's entries: reapply puts them back.
func ensureVXLAN(s vxlanSpec) error {
	link, err := netlink.LinkByName(s.name)
	if err == nil && !vxlanMatches(link, s) {
		if err := netlink.LinkDel(link); err != nil {
			return fmt.Errorf("delete to make anew: %w", err)
		}
		err = netlink.LinkNotFoundError{}
	}
	if isLinkNotFound(err) {
		vx := &netlink.Vxlan{
			LinkAttrs:    netlink.LinkAttrs{Name: s.name, MTU: s.mtu, HardwareAddr: s.mac},
			VxlanId:      s.vni,
			VtepDevIndex: s.underlay,
			SrcAddr:      net.IP(s.local.AsSlice()),
			Port:         s.port,
			Learning:     false,
		}
		if err := netlink.LinkAdd(vx); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create (VNI %d, port %d, local %s): %w", s.vni, s.port, s.local, err)
		}
		link, err = netlink.LinkByName(s.name)
	}
	if err != nil {
		return err
	}
	if link.Attrs().MTU != s.mtu {
		if err := netlink.LinkSetMTU(link, s.mtu); err != nil {
			return fmt.Errorf("set MTU %d: %w", s.mtu, err)
		}
	}
	if link.Attrs().HardwareAddr.String() != s.mac.String() {
		if err := netlink.LinkSetHardwareAddr(link, s.mac); err != nil {
			return fmt.Errorf("set MAC %s: %w", s.mac, err)
		}
	}
	if err := ensureOnlyAddr(link, s.addr); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

func vxlanMatches(link netlink.Link, s vxlanSpec) bool {
	vx, ok := link.(*netlink.Vxlan)
	if !ok {
		return false
	}
	local, _ := netip.AddrFromSlice(vx.SrcAddr)
	return vx.VxlanId == s.vni && vx.Port == s.port && local.Unmap() == s.local &&
		vx.VtepDevIndex == s.underlay && !vx.Learning
}

// peerPlan is a validated Peer.
type peerPlan struct {
	name    string
	nodeIP  netip.Addr
	podCIDR netip.Prefix
	vtep    netip.Addr
	mac     net.HardwareAddr
}

// planPeers validates peers against the node: peers that are the node
// itself or not set up yet are left out, malformed or overlapping ones are
// an error. The result is sorted by PodCIDR.
func planPeers(node *nodeState, peers []network.Peer) ([]peerPlan, error) {
	own := netip.MustParsePrefix(node.PodCIDR)
	cluster := netip.MustParsePrefix(node.ClusterCIDR)
	var out []peerPlan
	for _, p := range peers {
		if p.NodeName == node.NodeName || p.NodeIP == "" || p.PodCIDR == "" || p.VTEPMAC == "" {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("peer %q: %s: %w", p.NodeName, fmt.Sprintf(format, args...), base.ErrInvalid)
		}
		pp := peerPlan{name: p.NodeName}
		var err error
		if pp.nodeIP, err = netip.ParseAddr(p.NodeIP); err != nil || !pp.nodeIP.Is4() {
			return nil, bad("node IP %q is not an IPv4 address", p.NodeIP)
		}
		if pp.podCIDR, err = parseNetwork("pod CIDR", p.PodCIDR); err != nil {
			return nil, fmt.Errorf("peer %q: %w", p.NodeName, err)
		}
		if pp.podCIDR.Bits() > 30 || !cluster.Contains(pp.podCIDR.Addr()) || pp.podCIDR.Bits() < cluster.Bits() {
			return nil, bad("pod CIDR %s is not a subnet of the cluster CIDR %s", pp.podCIDR, cluster)
		}
		if pp.podCIDR.Overlaps(own) {
			return nil, bad("pod CIDR %s overlaps this node's %s", pp.podCIDR, own)
		}
		if pp.mac, err = net.ParseMAC(p.VTEPMAC); err != nil || len(pp.mac) != 6 {
			return nil, bad("VTEP MAC %q is not an Ethernet address", p.VTEPMAC)
		}
		pp.vtep = vtepIP(pp.podCIDR)
		out = append(out, pp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].podCIDR.Addr().Less(out[j].podCIDR.Addr()) })
	for i := 1; i < len(out); i++ {
		if out[i-1].podCIDR.Overlaps(out[i].podCIDR) {
			return nil, fmt.Errorf("peers %q and %q: pod CIDRs %s and %s overlap: %w", out[i-1].name, out[i].name, out[i-1].podCIDR, out[i].podCIDR, base.ErrInvalid)
		}
		if out[i-1].mac.String() == out[i].mac.String() {
			return nil, fmt.Errorf("peers %q and %q: both have VTEP MAC %s: %w", out[i-1].name, out[i].name, out[i].mac, base.ErrInvalid)
		}
	}
	return out, nil
}

// SetPeers implements network.Network.
func (o *Overlay) SetPeers(ctx context.Context, peers []network.Peer) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return err
	}
	if err := o.setPeers(ctx, c, peers); err != nil {
		return fmt.Errorf("set peers: %w", err)
	}
	return nil
}

// setPeers converges the VXLAN device's entries to peers and records them.
// The caller holds o.mu.
func (o *Overlay) setPeers(ctx context.Context, c *config, peers []network.Peer) error {
	if o.node == nil {
		return fmt.Errorf("SetupNode has not run: %w", network.ErrNodeNotSetUp)
	}
	plans, err := planPeers(o.node, peers)
	if err != nil {
		return err
	}
	if o.node.VXLAN == "" {
		if len(plans) > 0 {
			return fmt.Errorf("node IP %q is empty or loopback, so the node has no overlay: %w", o.node.NodeIP, network.ErrNodeNotSetUp)
		}
		return removeFile(c.peersFile())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.host.do(func() error { return convergePeers(o.node.VXLAN, plans) }); err != nil {
		return err
	}
	if len(peers) == 0 {
		return removeFile(c.peersFile())
	}
	return writeJSON(c.peersFile(), peers)
}

// convergePeers makes the VXLAN device hold exactly the entries of peers,
// flannel's way: per peer, an FDB entry (VTEP MAC → node IP), a permanent
// neighbour entry (VTEP IP → VTEP MAC) and a route (PodCIDR via VTEP IP,
// onlink). Everything on the device that is not for a listed peer goes:
// the device is ours alone.
func convergePeers(dev string, peers []peerPlan) error {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("VXLAN device %q: %w (run SetupNode again): %w", dev, err, network.ErrNodeNotSetUp)
	}
	idx := link.Attrs().Index
	wantRoute := map[netip.Prefix]netip.Addr{}
	wantNeigh := map[netip.Addr]string{}
	wantFDB := map[string]netip.Addr{}
	for _, p := range peers {
		wantRoute[p.podCIDR] = p.vtep
		wantNeigh[p.vtep] = p.mac.String()
		wantFDB[p.mac.String()] = p.nodeIP
	}
	var errs []error

	// Stale first: routes, then neighbours, then FDB entries (the reverse
	// of the order they are added in).
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: idx, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes of %q: %w", dev, err)
	}
	for _, r := range routes {
		gw, _ := netip.AddrFromSlice(r.Gw)
		if r.Dst != nil {
			if want, ok := wantRoute[prefixOf(r.Dst)]; ok && want == gw.Unmap() {
				continue
			}
		}
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
		}
	}
	neighs, err := netlink.NeighList(idx, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list neighbours of %q: %w", dev, err)
	}
	for _, n := range neighs {
		ip, _ := netip.AddrFromSlice(n.IP)
		if want, ok := wantNeigh[ip.Unmap()]; ok && want == n.HardwareAddr.String() && n.State == netlink.NUD_PERMANENT {
			continue
		}
		if err := netlink.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete neighbour %s: %w", n.IP, err))
		}
	}
	fdb, err := netlink.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list FDB of %q: %w", dev, err)
	}
	for _, n := range fdb {
		ip, _ := netip.AddrFromSlice(n.IP)
		if want, ok := wantFDB[n.HardwareAddr.String()]; ok && want == ip.Unmap() {
			continue
		}
		if err := netlink.NeighDel(&n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete FDB entry %s: %w", n.HardwareAddr, err))
		}
	}

	// Then what is wanted: FDB entry, neighbour, route, so the route is
	// usable the moment it exists.
	for _, p := range peers {
		fdbEntry := &netlink.Neigh{
			LinkIndex: idx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT, IP: net.IP(p.nodeIP.AsSlice()), HardwareAddr: p.mac,
		}
		if !slices.ContainsFunc(fdb, func(n netlink.Neigh) bool { return sameFDB(n, fdbEntry) }) {
			if err := netlink.NeighAppend(fdbEntry); err != nil && !errors.Is(err, os.ErrExist) {
				errs = append(errs, fmt.Errorf("peer %q: FDB entry %s → %s: %w", p.name, p.mac, p.nodeIP, err))
				continue
			}
		}
		neigh := &netlink.Neigh{
			LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			Type: unix.RTN_UNICAST, IP: net.IP(p.vtep.AsSlice()), HardwareAddr: p.mac,
		}
		if err := netlink.NeighSet(neigh); err != nil {
			errs = append(errs, fmt.Errorf("peer %q: neighbour %s → %s: %w", p.name, p.vtep, p.mac, err))
			continue
		}
		route := &netlink.Route{
			LinkIndex: idx, Dst: ipNet(p.podCIDR), Gw: net.IP(p.vtep.AsSlice()),
			Flags: int(netlink.FLAG_ONLINK), Table: unix.RT_TABLE_MAIN,
		}
		if err := netlink.RouteReplace(route); err != nil {
			errs = append(errs, fmt.Errorf("peer %q: route %s via %s: %w", p.name, p.podCIDR, p.vtep, err))
		}
	}
	return errors.Join(errs...)
}

func sameFDB(n netlink.Neigh, want *netlink.Neigh) bool {
	return n.HardwareAddr.String() == want.HardwareAddr.String() && n.IP.Equal(want.IP)
}
