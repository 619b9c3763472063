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

const ipForwardSysctl = "/proc/sys/net/ipv4/ip_forward"

// nodePlan is a validated NodeConfig.
type nodePlan struct {
	cfg     network.NodeConfig
	podCIDR netip.Prefix
	cluster netip.Prefix
	gateway netip.Prefix // gateway address with the PodCIDR's length
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
		if _, err := netip.ParseAddr(cfg.NodeIP); err != nil {
			return p, fmt.Errorf("node IP %q: %w: %w", cfg.NodeIP, err, base.ErrInvalid)
		}
	}
	p.gateway = netip.PrefixFrom(ipam.Gateway(p.podCIDR), p.podCIDR.Bits())
	return p, nil
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
// with the gateway address, turns on IPv4 forwarding, installs the
// masquerade and forward chains, and records the NodeConfig.
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
	if err := ensureBridge(c.bridge, plan.gateway, c.mtu); err != nil {
		return network.NodeStatus{}, fmt.Errorf("bridge %q: %w", c.bridge, err)
	}
	if err := enableIPForward(); err != nil {
		return network.NodeStatus{}, err
	}
	for _, ch := range nodeChains(c.bridge, plan.podCIDR.String(), plan.cluster.String()) {
		if err := o.ipt.ensure(ctx, ch); err != nil {
			return network.NodeStatus{}, fmt.Errorf("iptables chain %q: %w", ch.chain, err)
		}
	}
	node := &nodeState{
		NodeName:    nc.NodeName,
		PodCIDR:     plan.podCIDR.String(),
		ClusterCIDR: plan.cluster.String(),
		NodeIP:      nc.NodeIP,
		Bridge:      c.bridge,
		GatewayIP:   plan.gateway.Addr().String(),
		MTU:         c.mtu,
	}
	if err := writeJSON(c.nodeFile(), node); err != nil {
		return network.NodeStatus{}, fmt.Errorf("record node state: %w", err)
	}
	o.node = node
	return node.status(), nil
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

// TeardownNode undoes SetupNode and every pod: it tears the pods down,
// deletes the bridge and the iptables chains, and forgets the NodeConfig.
// It leaves IPv4 forwarding on, since other software may rely on it. It is
// not part of the network contract; tests and "node reset" tools use it.
// Calling it again, or before SetupNode, is not an error.
func (o *Overlay) TeardownNode(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return err
	}
	pods, err := loadPods(c)
	errs := []error{err}
	for _, p := range pods {
		if err := o.teardownPod(c, p.UID); err != nil {
			errs = append(errs, fmt.Errorf("pod %q: %w", p.Namespace+"/"+p.Name, err))
		}
	}
	if err := deleteLink(c.bridge); err != nil {
		errs = append(errs, fmt.Errorf("bridge %q: %w", c.bridge, err))
	}
	for _, ch := range nodeChains(c.bridge, "", "") {
		if err := o.ipt.remove(ctx, ch); err != nil {
			errs = append(errs, fmt.Errorf("iptables chain %q: %w", ch.chain, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down node: %w", err)
	}
	o.node = nil
	if err := removeFile(c.nodeFile()); err != nil {
		return fmt.Errorf("tear down node: %w", err)
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
