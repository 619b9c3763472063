package overlay

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/plugins/net-overlay/ipam"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

const (
	ipForwardSysctl = "/proc/sys/net/ipv4/ip_forward"
	bridgeNFSysctl  = "/proc/sys/net/bridge/bridge-nf-call-iptables"
)

// nodePlan is a validated NodeConfig.
type nodePlan struct {
	cfg     network.NodeConfig
	podCIDR netip.Prefix
	cluster netip.Prefix
	gateway netip.Prefix // gateway address with the PodCIDR's length
	nodeIP  netip.Addr   // invalid when NodeConfig.NodeIP is empty
	// overlay: the node has a NodeIP other nodes can reach, so it gets a
	// VXLAN device.
	overlay bool
	domain  string // cluster domain, lower case, without the final dot
}

func planNode(cfg network.NodeConfig) (nodePlan, error) {
	p := nodePlan{cfg: cfg}
	var err error
	if p.podCIDR, err = parseNetwork("pod CIDR", cfg.PodCIDR); err != nil {
		return p, err
	}
	if p.podCIDR.Bits() > 30 {
		return p, fmt.Errorf("pod CIDR %q: must hold at least 4 addresses: %w", cfg.PodCIDR, base.ErrInvalid)
	}
	if p.cluster, err = parseNetwork("cluster CIDR", cfg.ClusterCIDR); err != nil {
		return p, err
	}
	if p.cluster.Bits() > p.podCIDR.Bits() || !p.cluster.Contains(p.podCIDR.Addr()) {
		return p, fmt.Errorf("pod CIDR %q: not inside cluster CIDR %q: %w", cfg.PodCIDR, cfg.ClusterCIDR, base.ErrInvalid)
	}
	if cfg.NodeIP != "" {
		if p.nodeIP, err = netip.ParseAddr(cfg.NodeIP); err != nil {
			return p, fmt.Errorf("node IP %q: %w: %w", cfg.NodeIP, err, base.ErrInvalid)
		}
		if !p.nodeIP.Is4() {
			return p, fmt.Errorf("node IP %q: only IPv4 is supported: %w", cfg.NodeIP, base.ErrInvalid)
		}
		p.overlay = !p.nodeIP.IsLoopback() && !p.nodeIP.IsUnspecified()
	}
	if cfg.MTU != 0 && (cfg.MTU < 576+vxlanOverhead || cfg.MTU > 65535) {
		return p, fmt.Errorf("MTU %d: must be 0 (look it up) or from %d to 65535: %w", cfg.MTU, 576+vxlanOverhead, base.ErrInvalid)
	}
	if p.domain, err = parseDomain(cfg.ClusterDomain); err != nil {
		return p, err
	}
	p.gateway = netip.PrefixFrom(ipam.Gateway(p.podCIDR), p.podCIDR.Bits())
	return p, nil
}

// parseDomain checks a cluster domain ("" is the default) and returns it in
// lower case without a final dot.
func parseDomain(d string) (string, error) {
	if d == "" {
		d = network.DefaultClusterDomain
	}
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if len(d) > 200 {
		return "", fmt.Errorf("cluster domain %q: too long: %w", d, base.ErrInvalid)
	}
	for _, label := range strings.Split(d, ".") {
		if !isDNSLabel(label) {
			return "", fmt.Errorf("cluster domain %q: %q is not a DNS label: %w", d, label, base.ErrInvalid)
		}
	}
	return d, nil
}

// isDNSLabel accepts an RFC 1123 label, as Kubernetes names of namespaces
// and services are: lower-case letters, digits and '-', 1 to 63
// characters, a letter or digit at both ends.
func isDNSLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// parseNetwork parses an IPv4 network address in CIDR form.
func parseNetwork(what, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%s %q: %w: %w", what, s, err, base.ErrInvalid)
	}
	if !p.Addr().Is4() {
		return p, fmt.Errorf("%s %q: only IPv4 is supported: %w", what, s, base.ErrInvalid)
	}
	if p.Masked() != p {
		return p, fmt.Errorf("%s %q: not a network address (did you mean %s?): %w", what, s, p.Masked(), base.ErrInvalid)
	}
	return p, nil
}

// SetupNode implements network.Network: it makes (or corrects) the bridge
// with the gateway address, turns on IPv4 forwarding and bridge netfilter,
// installs the node's chains, makes the VXLAN device when the node has a
// reachable NodeIP, starts the DNS server, records the NodeConfig, and
// programs the last peers and services again.
func (o *Overlay) SetupNode(ctx context.Context, nc network.NodeConfig) (network.NodeStatus, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return network.NodeStatus{}, err
	}
	st, err := o.setupNode(ctx, c, nc)
	if err != nil {
		return network.NodeStatus{}, fmt.Errorf("node %q: %w", nc.NodeName, err)
	}
	return st, nil
}

func (o *Overlay) setupNode(ctx context.Context, c *config, nc network.NodeConfig) (network.NodeStatus, error) {
	plan, err := planNode(nc)
	if err != nil {
		return network.NodeStatus{}, err
	}
	if err := ctx.Err(); err != nil {
		return network.NodeStatus{}, err
	}
	node := &nodeState{
		NodeName:      nc.NodeName,
		PodCIDR:       plan.podCIDR.String(),
		ClusterCIDR:   plan.cluster.String(),
		NodeIP:        nc.NodeIP,
		Bridge:        c.bridge,
		GatewayIP:     plan.gateway.Addr().String(),
		ClusterDomain: plan.domain,
		DNSIP:         plan.gateway.Addr().String(),
	}
	if err := c.host.do(func() error { return o.setupHost(ctx, c, plan, node) }); err != nil {
		return network.NodeStatus{}, err
	}
	if err := writeJSON(c.nodeFile(), node); err != nil {
		return network.NodeStatus{}, fmt.Errorf("record node state: %w", err)
	}
	o.node = node
	if err := o.startDNS(c, node); err != nil {
		return network.NodeStatus{}, err
	}
	if err := o.reapply(ctx, c); err != nil {
		return network.NodeStatus{}, err
	}
	return node.status(), nil
}

// setupHost is SetupNode's work in the node's namespace. It fills in the
// MTU, the VXLAN device and its MAC, and whether bridge netfilter is on.
func (o *Overlay) setupHost(ctx context.Context, c *config, plan nodePlan, node *nodeState) error {
	var underlay netlink.Link
	podMTU, vxMTU := c.mtu, 0
	if plan.overlay {
		var err error
		if underlay, err = linkWithAddr(plan.nodeIP); err != nil {
			return err
		}
		linkMTU := plan.cfg.MTU
		if linkMTU == 0 {
			linkMTU = underlay.Attrs().MTU
		}
		vxMTU = linkMTU - vxlanOverhead
		if vxMTU < 576 {
			return fmt.Errorf("link %q of node IP %s: MTU %d leaves %d for VXLAN, less than 576: %w", underlay.Attrs().Name, plan.nodeIP, linkMTU, vxMTU, base.ErrInvalid)
		}
		if podMTU == 0 {
			podMTU = vxMTU
		}
	} else if podMTU == 0 {
		podMTU = DefaultMTU
	}
	node.MTU = podMTU
	if err := ensureBridge(c.bridge, plan.gateway, podMTU); err != nil {
		return fmt.Errorf("bridge %q: %w", c.bridge, err)
	}
	if err := enableIPForward(); err != nil {
		return err
	}
	// Without bridge netfilter, a reply from a pod to a pod of the same
	// bridge would skip the conntrack entry of a service DNAT; the service
	// chains then masquerade such traffic instead (see services.go).
	node.LocalMasq = !enableBridgeNetfilter()
	for _, ch := range nodeChains(c.bridge, plan.podCIDR.String(), plan.cluster.String()) {
		if err := o.ipt.ensure(ctx, ch); err != nil {
			return fmt.Errorf("iptables chain %q: %w", ch.chain, err)
		}
	}
	if !plan.overlay {
		if err := deleteLink(c.vxlanDev); err != nil {
			return fmt.Errorf("VXLAN device %q: %w", c.vxlanDev, err)
		}
		return nil
	}
	mac := vtepMAC(plan.cfg.NodeName)
	vx := vxlanSpec{
		name: c.vxlanDev, vni: c.vni, port: c.vxlanPort, local: plan.nodeIP,
		underlay: underlay.Attrs().Index, mac: mac, mtu: vxMTU,
		addr: netip.PrefixFrom(plan.podCIDR.Addr(), 32),
	}
	if err := ensureVXLAN(vx); err != nil {
		return fmt.Errorf("VXLAN device %q: %w", c.vxlanDev, err)
	}
	node.VXLAN, node.VTEPMAC = c.vxlanDev, mac.String()
	return nil
}

// reapply programs the peers and services recorded under DataDir, so a
// restarted plugin (or a node whose VXLAN device was made anew) is whole
// before the core calls SetPeers and SetServices again. A recorded set
// that no longer fits the node (its PodCIDR changed) is dropped: the core
// sends a new one.
func (o *Overlay) reapply(ctx context.Context, c *config) error {
	peers, err := loadPeers(c)
	if err != nil {
		return err
	}
	if err := o.setPeers(ctx, c, peers); errors.Is(err, base.ErrInvalid) || errors.Is(err, network.ErrNodeNotSetUp) {
		_ = o.setPeers(ctx, c, nil)
	} else if err != nil {
		return fmt.Errorf("program the recorded peers again: %w", err)
	}
	if err := o.setServices(ctx, c, o.services); errors.Is(err, base.ErrInvalid) {
		return o.setServices(ctx, c, nil)
	} else if err != nil {
		return fmt.Errorf("program the recorded services again: %w", err)
	}
	return nil
}

// linkWithAddr finds the link that holds addr.
func linkWithAddr(addr netip.Addr) (netlink.Link, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if prefixOf(a.IPNet).Addr() == addr {
			return netlink.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("node IP %s is not an address of this node: %w", addr, base.ErrInvalid)
}

// ensureBridge makes the bridge if needed, gives it exactly the gateway
// address and brings it up.
func ensureBridge(name string, gateway netip.Prefix, mtu int) error {
	link, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		link, err = createBridge(name, mtu)
	}
	if err != nil {
		return err
	}
	if _, ok := link.(*netlink.Bridge); !ok {
		return fmt.Errorf("exists and is a %q link, not a bridge", link.Type())
	}
	if link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set MTU %d: %w", mtu, err)
		}
	}
	if err := ensureOnlyAddr(link, gateway); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

func createBridge(name string, mtu int) (netlink.Link, error) {
	// A fixed MAC address: otherwise the bridge takes the lowest MAC of its
	// ports, and the pods' gateway changes MAC whenever a pod comes or goes.
	mac, err := randomMAC()
	if err != nil {
		return nil, err
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, HardwareAddr: mac}}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("create: %w", err)
	}
	return netlink.LinkByName(name)
}

// randomMAC is a random unicast, locally administered MAC address.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac, nil
}

// ensureOnlyAddr gives link the IPv4 address want and removes any other, so
// a PodCIDR change does not leave the old gateway behind.
func ensureOnlyAddr(link netlink.Link, want netip.Prefix) error {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	found := false
	for _, a := range addrs {
		if prefixOf(a.IPNet) == want {
			found = true
			continue
		}
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("remove stale address %s: %w", a.IPNet, err)
		}
	}
	if found {
		return nil
	}
	if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(want)}); err != nil {
		return fmt.Errorf("add address %s: %w", want, err)
	}
	return nil
}

// enableBridgeNetfilter makes bridged IPv4 traffic pass iptables
// (net.bridge.bridge-nf-call-iptables, per network namespace), which
// service DNAT between pods of one bridge needs. It reports false when the
// kernel has no bridge netfilter (br_netfilter not loaded).
func enableBridgeNetfilter() bool {
	cur, err := os.ReadFile(bridgeNFSysctl)
	if err != nil {
		return false
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return true
	}
	return os.WriteFile(bridgeNFSysctl, []byte("1\n"), 0o644) == nil
}

func enableIPForward() error {
	cur, err := os.ReadFile(ipForwardSysctl)
	if err == nil && strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := os.WriteFile(ipForwardSysctl, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable IPv4 forwarding: %w", err)
	}
	return nil
}

// TeardownNode implements network.Network: it tears the pods down, stops
// the DNS server, deletes the bridge, the VXLAN device (and with it every
// peer's route, neighbour and FDB entry), the service chains and the node's
// chains, and forgets the NodeConfig, peers and services. It leaves IPv4
// forwarding and bridge netfilter on, since other software may rely on
// them. Calling it again, or before SetupNode, is not an error.
func (o *Overlay) TeardownNode(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return err
	}
	o.stopDNS()
	pods, err := loadPods(c)
	errs := []error{err}
	err = c.host.do(func() error {
		var errs []error
		for _, p := range pods {
			if err := o.teardownPod(c, p.UID); err != nil {
				errs = append(errs, fmt.Errorf("pod %q: %w", p.Namespace+"/"+p.Name, err))
			}
		}
		if err := deleteLink(c.bridge); err != nil {
			errs = append(errs, fmt.Errorf("bridge %q: %w", c.bridge, err))
		}
		if err := deleteLink(c.vxlanDev); err != nil {
			errs = append(errs, fmt.Errorf("VXLAN device %q: %w", c.vxlanDev, err))
		}
		chains := nodeChains(c.bridge, "", "")
		for i := len(chains) - 1; i >= 0; i-- {
			if err := o.ipt.remove(ctx, chains[i]); err != nil {
				errs = append(errs, fmt.Errorf("iptables chain %q: %w", chains[i].chain, err))
			}
		}
		if err := o.removeServiceChains(ctx, c); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down node: %w", err)
	}
	o.node, o.services = nil, nil
	for _, f := range []string{c.nodeFile(), c.peersFile(), c.servicesFile()} {
		if err := removeFile(f); err != nil {
			return fmt.Errorf("tear down node: %w", err)
		}
	}
	return nil
}

// readyNode returns the node state if SetupNode ran and the bridge is still
// there. The caller holds o.mu.
func (o *Overlay) readyNode() (*nodeState, netlink.Link, error) {
	if o.node == nil {
		return nil, nil, fmt.Errorf("SetupNode has not run: %w", network.ErrNodeNotSetUp)
	}
	br, err := netlink.LinkByName(o.node.Bridge)
	if isLinkNotFound(err) {
		return nil, nil, fmt.Errorf("bridge %q is gone, run SetupNode again: %w", o.node.Bridge, network.ErrNodeNotSetUp)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bridge %q: %w", o.node.Bridge, err)
	}
	return o.node, br, nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// deleteLink deletes a link by name; a missing link is not an error.
func deleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil && !isLinkNotFound(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

func prefixOf(n *net.IPNet) netip.Prefix {
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
