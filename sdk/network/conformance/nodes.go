package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/network"
)

// Nodes of one machine. With Options.NetNSSetting, every subtest gets its
// own small cluster: a "switch" network namespace holding a bridge, and per
// node a namespace that plays the node's host, joined to the switch by a
// veth pair whose node end is "eth0" with the address 192.0.2.<n>/24
// (TEST-NET-1, MTU 1500). Like a real host, a node has a default route, via
// 192.0.2.254, which does not exist: whatever a plugin sends there ends in
// the switch namespace, so nothing leaves the namespaces the suite made.
const (
	underlayPrefix  = "192.0.2.0/24"
	underlayMTU     = 1500
	underlayLink    = "eth0"
	underlayGateway = "192.0.2.254"
)

// testNode is one node of a subtest's cluster.
type testNode struct {
	index int
	// nsPath is the node's host namespace; "" is the test's own.
	nsPath string
	cfg    network.NodeConfig
}

// cluster is the nodes of one subtest.
type cluster struct {
	dir      string
	switchNS string
	nodes    []*testNode
}

type clusters struct {
	mu  sync.Mutex
	all map[*testing.T]*cluster
}

// node returns node i (0 or 1) of t's cluster, making it on first use.
// Node 0 is Options.Node; node 1 has the PodCIDR that follows it.
func (s *suite) node(t *testing.T, i int) *testNode {
	t.Helper()
	s.clusters.mu.Lock()
	defer s.clusters.mu.Unlock()
	if s.clusters.all == nil {
		s.clusters.all = map[*testing.T]*cluster{}
	}
	c := s.clusters.all[t]
	if c == nil {
		c = &cluster{}
		s.clusters.all[t] = c
		t.Cleanup(func() {
			s.clusters.mu.Lock()
			defer s.clusters.mu.Unlock()
			delete(s.clusters.all, t)
		})
	}
	for len(c.nodes) <= i {
		n, err := s.addNode(t, c, len(c.nodes))
		if err != nil {
			t.Fatalf("make test node %d: %v", len(c.nodes), err)
		}
		c.nodes = append(c.nodes, n)
	}
	return c.nodes[i]
}

func (s *suite) addNode(t *testing.T, c *cluster, i int) (*testNode, error) {
	cfg := s.opts.Node
	if i > 0 {
		if s.opts.NetNSSetting == "" {
			t.Skip("a second node needs Options.NetNSSetting")
		}
		next, err := nextPrefix(netip.MustParsePrefix(cfg.PodCIDR), i)
		if err != nil {
			return nil, err
		}
		if !netip.MustParsePrefix(cfg.ClusterCIDR).Contains(next.Addr()) {
			return nil, fmt.Errorf("the PodCIDR after %s, %s, is outside the ClusterCIDR %s", cfg.PodCIDR, next, cfg.ClusterCIDR)
		}
		cfg.PodCIDR = next.String()
		cfg.NodeName = fmt.Sprintf("%s-%d", cfg.NodeName, i)
	}
	n := &testNode{index: i, cfg: cfg}
	if s.opts.NetNSSetting == "" {
		return n, nil
	}
	if c.dir == "" {
		// Removed after everything registered later (the plugin instances
		// and their pods) is gone: t.Cleanup runs last-in first-out.
		c.dir = t.TempDir()
		c.switchNS = filepath.Join(c.dir, "switch")
		t.Cleanup(func() {
			if err := removeNS(c.switchNS); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		if err := makeNS(c.switchNS); err != nil {
			return nil, err
		}
		err := withHandle(c.switchNS, func(h *netlink.Handle) error {
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "switch", MTU: underlayMTU}}
			if err := h.LinkAdd(br); err != nil {
				return fmt.Errorf("switch bridge: %w", err)
			}
			return h.LinkSetUp(br)
		})
		if err != nil {
			return nil, err
		}
	}
	n.nsPath = filepath.Join(c.dir, "node-"+strconv.Itoa(i))
	t.Cleanup(func() {
		if err := removeNS(n.nsPath); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := makeNS(n.nsPath); err != nil {
		return nil, err
	}
	ip := netip.MustParsePrefix(underlayPrefix).Addr()
	for range i + 1 {
		ip = ip.Next()
	}
	n.cfg.NodeIP = ip.String()
	return n, plugNode(c.switchNS, n.nsPath, i, netip.PrefixFrom(ip, 24))
}

// plugNode joins a node namespace to the switch with a veth pair.
func plugNode(switchNS, nodeNS string, i int, addr netip.Prefix) error {
	sw, err := netns.GetFromPath(switchNS)
	if err != nil {
		return err
	}
	defer sw.Close()
	node, err := netns.GetFromPath(nodeNS)
	if err != nil {
		return err
	}
	defer node.Close()
	return withHandle(switchNS, func(h *netlink.Handle) error {
		port := fmt.Sprintf("port%d", i)
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: port, MTU: underlayMTU},
			PeerName:      underlayLink,
			PeerNamespace: netlink.NsFd(int(node)),
		}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("veth to node %d: %w", i, err)
		}
		link, err := h.LinkByName(port)
		if err != nil {
			return err
		}
		br, err := h.LinkByName("switch")
		if err != nil {
			return err
		}
		if err := h.LinkSetMaster(link, br); err != nil {
			return err
		}
		if err := h.LinkSetUp(link); err != nil {
			return err
		}
		return withHandle(nodeNS, func(h *netlink.Handle) error {
			lo, err := h.LinkByName("lo")
			if err != nil {
				return err
			}
			if err := h.LinkSetUp(lo); err != nil {
				return err
			}
			eth, err := h.LinkByName(underlayLink)
			if err != nil {
				return err
			}
			ipn := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}
			if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipn}); err != nil {
				return err
			}
			if err := h.LinkSetUp(eth); err != nil {
				return err
			}
			return h.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(underlayGateway)})
		})
	})
}

// nextPrefix is the i-th prefix of p's size after p.
func nextPrefix(p netip.Prefix, i int) (netip.Prefix, error) {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	step := uint64(1) << (32 - p.Bits())
	next := uint64(v) + uint64(i)*step
	if next > 0xffffffff {
		return netip.Prefix{}, fmt.Errorf("no prefix %d after %s", i, p)
	}
	n := uint32(next)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), p.Bits()), nil
}

func withHandle(nsPath string, fn func(h *netlink.Handle) error) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// makeNS makes a network namespace and bind-mounts it on path.
func makeNS(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("bind mount %s: %w", path, err)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// removeNS unmounts and removes a namespace file; the namespace goes when
// nothing else holds it.
func removeNS(path string) error {
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
