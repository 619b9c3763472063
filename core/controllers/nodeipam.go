package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// NodeIPAM gives every node a pod subnet (spec.podCIDR) carved from the
// cluster CIDR, the way kube-controller-manager's range allocator does. The
// node's agent waits for it before setting up its pod network.
type NodeIPAM struct {
	Client      *client.Client
	ClusterCIDR netip.Prefix
	// NodeMaskBits is the size of each node's subnet (24 gives /24s).
	NodeMaskBits int
	Log          *slog.Logger

	mu   sync.Mutex
	used map[netip.Prefix]string // subnet -> node
}

// Run runs until ctx ends.
func (a *NodeIPAM) Run(ctx context.Context) {
	a.used = map[netip.Prefix]string{}
	// Learn every assigned subnet before assigning any, so a node listed
	// early cannot get a subnet a later one already holds.
	if nodes, _, err := client.List[corev1.Node](ctx, a.Client, api.Nodes, "", client.ListOptions{}); err == nil {
		for i := range nodes {
			if p, err := netip.ParsePrefix(nodes[i].Spec.PodCIDR); err == nil {
				a.used[p] = nodes[i].Name
			}
		}
	}
	watchLoop(ctx, a.Client, api.Nodes, a.Log, func(typ string, n *corev1.Node) {
		a.onNode(ctx, typ, n)
	})
}

func (a *NodeIPAM) onNode(ctx context.Context, typ string, n *corev1.Node) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if typ == "DELETED" {
		for p, owner := range a.used {
			if owner == n.Name {
				delete(a.used, p)
			}
		}
		return
	}
	if n.Spec.PodCIDR != "" {
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			a.used[p] = n.Name
		}
		return
	}
	subnet, err := a.next()
	if err != nil {
		a.Log.Error("allocate pod CIDR", "node", n.Name, "error", err)
		return
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.Client.Get(ctx, api.Nodes, "", n.Name, n); err != nil {
			return err
		}
		if n.Spec.PodCIDR != "" {
			return nil // someone else assigned it meanwhile
		}
		n.Spec.PodCIDR = subnet.String()
		n.Spec.PodCIDRs = []string{subnet.String()}
		return a.Client.Update(ctx, api.Nodes, "", n, "")
	})
	if err != nil {
		a.Log.Warn("assign pod CIDR", "node", n.Name, "error", err)
		return
	}
	if n.Spec.PodCIDR == subnet.String() {
		a.used[subnet] = n.Name
	}
}

// next finds the first free node subnet.
func (a *NodeIPAM) next() (netip.Prefix, error) {
	if a.NodeMaskBits <= a.ClusterCIDR.Bits() || a.NodeMaskBits > 30 {
		return netip.Prefix{}, fmt.Errorf("node mask /%d does not fit cluster CIDR %s", a.NodeMaskBits, a.ClusterCIDR)
	}
	count := 1 << (a.NodeMaskBits - a.ClusterCIDR.Bits())
	step := 1 << (32 - a.NodeMaskBits)
	base := a.ClusterCIDR.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := 0; i < count; i++ {
		v := start + uint32(i*step)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), a.NodeMaskBits)
		if _, taken := a.used[p]; !taken {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("cluster CIDR %s has no free /%d left", a.ClusterCIDR, a.NodeMaskBits)
}
