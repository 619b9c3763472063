package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/skiffhq/skiff/plugins/net-overlay/ipam"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// podInterface is the pod end of the veth pair, inside the pod's namespace.
const podInterface = "eth0"

func podName(ref network.PodRef) string {
	return ref.Namespace + "/" + ref.Name
}

// checkUID accepts UIDs that are safe as a file name: Kubernetes UIDs are
// UUIDs, and tests use short random names.
func checkUID(uid string) error {
	if uid == "" || len(uid) > 128 || uid[0] == '.' {
		return fmt.Errorf("uid %q: must be 1 to 128 characters and not start with '.': %w", uid, base.ErrInvalid)
	}
	for _, r := range uid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("uid %q: only letters, digits, '-', '_' and '.' are allowed: %w", uid, base.ErrInvalid)
		}
	}
	return nil
}

// hostVethName is the host end of a pod's veth pair. It is derived from the
// bridge and the UID so teardown finds it without any state, and it stays
// within the kernel's 15 characters.
func hostVethName(bridge, uid string) string {
	sum := sha256.Sum256([]byte(bridge + "/" + uid))
	return "skv" + hex.EncodeToString(sum[:])[:12]
}

// SetupPod implements network.Network.
func (o *Overlay) SetupPod(ctx context.Context, ref network.PodRef) (network.PodNetwork, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return network.PodNetwork{}, err
	}
	var pn network.PodNetwork
	err = c.host.do(func() (err error) {
		pn, err = o.setupPod(ctx, c, ref)
		return err
	})
	if err != nil {
		return network.PodNetwork{}, fmt.Errorf("pod %q: %w", podName(ref), err)
	}
	return pn, nil
}

// setupPod runs in the node's namespace.
func (o *Overlay) setupPod(ctx context.Context, c *config, ref network.PodRef) (network.PodNetwork, error) {
	if err := checkUID(ref.UID); err != nil {
		return network.PodNetwork{}, err
	}
	node, bridge, err := o.readyNode()
	if err != nil {
		return network.PodNetwork{}, err
	}
	existing, err := loadPod(c, ref.UID)
	if err != nil {
		return network.PodNetwork{}, err
	}
	if existing != nil && podHealthy(existing) {
		return existing.network(), nil
	}
	if err := ctx.Err(); err != nil {
		return network.PodNetwork{}, err
	}
	// No record, or a broken one (after a reboot the netns mounts are gone
	// but the records are not): clear what is left and build afresh. The
	// address is kept, so the pod gets the same one again.
	if err := clearPodLinks(c, ref.UID); err != nil {
		return network.PodNetwork{}, fmt.Errorf("clear leftovers: %w", err)
	}
	p, err := o.buildPod(c, node, bridge, ref)
	if err != nil {
		return network.PodNetwork{}, err
	}
	return p.network(), nil
}

// podHealthy reports whether what the record describes still exists.
func podHealthy(p *podState) bool {
	if !isNetNS(p.NetNSPath) {
		return false
	}
	_, err := netlink.LinkByName(p.HostVeth)
	return err == nil
}

// buildPod makes the pod's namespace, address and veth pair, and records
// them. On any error it tears down what it made.
func (o *Overlay) buildPod(c *config, node *nodeState, bridge netlink.Link, ref network.PodRef) (_ *podState, err error) {
	p := &podState{
		Namespace: ref.Namespace,
		Name:      ref.Name,
		UID:       ref.UID,
		NetNSPath: filepath.Join(c.netnsDir, ref.UID),
		Interface: podInterface,
		PodCIDR:   node.PodCIDR,
		HostVeth:  hostVethName(c.bridge, ref.UID),
	}
	success := false
	defer func() {
		if success {
			return
		}
		if rerr := o.teardownPod(c, ref.UID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("roll back: %w", rerr))
		}
	}()

	addr, err := o.allocate(c, node, ref.UID)
	if err != nil {
		return nil, err
	}
	p.IP = addr.Addr().String()
	if err := createNetNS(p.NetNSPath); err != nil {
		return nil, err
	}
	if err := createVeth(p, bridge, node.MTU); err != nil {
		return nil, err
	}
	gateway, err := netip.ParseAddr(node.GatewayIP)
	if err != nil {
		return nil, fmt.Errorf("node gateway %q: %w", node.GatewayIP, err)
	}
	if err := configurePodNS(p.NetNSPath, p.Interface, addr, gateway); err != nil {
		return nil, err
	}
	if err := writeJSON(podFile(c, ref.UID), p); err != nil {
		return nil, fmt.Errorf("record pod state: %w", err)
	}
	success = true
	return p, nil
}

// allocate reserves the pod's address, with the PodCIDR's prefix length.
func (o *Overlay) allocate(c *config, node *nodeState, uid string) (netip.Prefix, error) {
	subnet, err := netip.ParsePrefix(node.PodCIDR)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("node pod CIDR %q: %w", node.PodCIDR, err)
	}
	a, err := ipam.New(allocatorDir(c, subnet), subnet)
	if err != nil {
		return netip.Prefix{}, err
	}
	addr, err := a.Allocate(uid)
	if errors.Is(err, ipam.ErrExhausted) {
		return netip.Prefix{}, fmt.Errorf("pod CIDR %s: every address is taken: %w", subnet, network.ErrAddressesExhausted)
	}
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, subnet.Bits()), nil
}

// allocatorDir is where the allocator of subnet keeps its files:
// <DataDir>/ipam/10.88.1.0_24.
func allocatorDir(c *config, subnet netip.Prefix) string {
	return filepath.Join(c.ipamDir(), strings.ReplaceAll(subnet.String(), "/", "_"))
}

// releaseAddresses frees uid's address in every allocator, so it is found
// whichever PodCIDR it came from.
func releaseAddresses(c *config, uid string) error {
	entries, err := os.ReadDir(c.ipamDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		subnet, err := netip.ParsePrefix(strings.ReplaceAll(e.Name(), "_", "/"))
		if err != nil || !e.IsDir() {
			continue
		}
		a, err := ipam.New(filepath.Join(c.ipamDir(), e.Name()), subnet)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, a.Release(uid))
	}
	return errors.Join(errs...)
}

// createVeth makes the pod's veth pair: the pod end is created directly in
// the pod's namespace under its final name, the host end joins the bridge.
func createVeth(p *podState, bridge netlink.Link, mtu int) error {
	ns, err := netns.GetFromPath(p.NetNSPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", p.NetNSPath, err)
	}
	defer ns.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.HostVeth, MTU: mtu},
		PeerName:      p.Interface,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %q: create: %w", p.HostVeth, err)
	}
	host, err := netlink.LinkByName(p.HostVeth)
	if err != nil {
		return fmt.Errorf("veth %q: %w", p.HostVeth, err)
	}
	if err := netlink.LinkSetMaster(host, bridge); err != nil {
		return fmt.Errorf("veth %q: attach to bridge %q: %w", p.HostVeth, bridge.Attrs().Name, err)
	}
	// Hairpin: a pod that reaches itself through a service IP gets its
	// packets back out of the port they came in by (bridge netfilter DNATs
	// them on the bridge), as the CNI bridge plugin's hairpinMode does.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("veth %q: hairpin mode: %w", p.HostVeth, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("veth %q: set up: %w", p.HostVeth, err)
	}
	return nil
}

// configurePodNS brings up loopback and the pod interface inside the pod's
// namespace, gives the interface its address and routes via the gateway.
func configurePodNS(nsPath, ifName string, addr netip.Prefix, gateway netip.Addr) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netns %s: netlink: %w", nsPath, err)
	}
	defer h.Close()

	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: lo: %w", nsPath, err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("netns %s: lo: set up: %w", nsPath, err)
	}
	link, err := h.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("netns %s: %s: %w", nsPath, ifName, err)
	}
	if err := h.AddrReplace(link, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		return fmt.Errorf("netns %s: %s: add address %s: %w", nsPath, ifName, addr, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("netns %s: %s: set up: %w", nsPath, ifName, err)
	}
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gateway.AsSlice()}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("netns %s: default route via %s: %w", nsPath, gateway, err)
	}
	return nil
}

// TeardownPod implements network.Network.
func (o *Overlay) TeardownPod(_ context.Context, ref network.PodRef) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return err
	}
	if err := checkUID(ref.UID); err != nil {
		return fmt.Errorf("pod %q: %w", podName(ref), err)
	}
	if err := c.host.do(func() error { return o.teardownPod(c, ref.UID) }); err != nil {
		return fmt.Errorf("pod %q: tear down: %w", podName(ref), err)
	}
	return nil
}

// teardownPod removes the pod's veth, namespace, address and record. It
// tries every step even if one fails, and keeps the record unless all
// succeeded, so a retry can finish. A pod with nothing left is a no-op.
func (o *Overlay) teardownPod(c *config, uid string) error {
	err := errors.Join(clearPodLinks(c, uid), releaseAddresses(c, uid))
	if err != nil {
		return err
	}
	return removeFile(podFile(c, uid))
}

// clearPodLinks deletes the pod's veth pair and namespace, found from its
// record or, without one, from the names they are given.
func clearPodLinks(c *config, uid string) error {
	p, err := loadPod(c, uid)
	if err != nil {
		return err
	}
	hostVeth, nsPath := hostVethName(c.bridge, uid), filepath.Join(c.netnsDir, uid)
	if p != nil {
		hostVeth, nsPath = p.HostVeth, p.NetNSPath
	}
	var errs []error
	if err := deleteLink(hostVeth); err != nil {
		errs = append(errs, fmt.Errorf("veth %q: %w", hostVeth, err))
	}
	errs = append(errs, removeNetNS(nsPath))
	return errors.Join(errs...)
}

// PodStatus implements network.Network: it reports the pod's record.
func (o *Overlay) PodStatus(_ context.Context, ref network.PodRef) (network.PodNetwork, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return network.PodNetwork{}, err
	}
	if err := checkUID(ref.UID); err != nil {
		return network.PodNetwork{}, fmt.Errorf("pod %q: %w", podName(ref), err)
	}
	p, err := loadPod(c, ref.UID)
	if err != nil {
		return network.PodNetwork{}, fmt.Errorf("pod %q: %w", podName(ref), err)
	}
	if p == nil {
		return network.PodNetwork{}, fmt.Errorf("pod %q (uid %s): no network: %w", podName(ref), ref.UID, base.ErrNotFound)
	}
	return p.network(), nil
}

// ListPods implements network.Network.
func (o *Overlay) ListPods(context.Context) ([]network.PodNetwork, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return nil, err
	}
	pods, err := loadPods(c)
	if err != nil {
		return nil, err
	}
	out := make([]network.PodNetwork, 0, len(pods))
	for _, p := range pods {
		out = append(out, p.network())
	}
	return out, nil
}
