// Package network is the contract of a skiff network plugin
// (skiff.network.v1): the node's pod network, each pod's network namespace
// and address, and (in later API revisions) service virtual IPs and DNS.
//
// The core decides which subnet a node gets and tells the plugin through
// SetupNode; the plugin makes the links and routes. SetupPod makes the
// pod's network namespace, which the runtime then joins every container of
// the pod to. Both setups are idempotent and must survive a restart of the
// plugin: after a restart the plugin finds its pods again from its own state
// under Config.DataDir.
package network

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/skiffhq/skiff/sdk/base"
)

// APIVersion is the newest version of this contract the SDK speaks.
const APIVersion = 1

// NodeConfig is the node's share of the cluster network.
type NodeConfig struct {
	NodeName string
	// PodCIDR is this node's pod subnet, e.g. "10.88.1.0/24". The first
	// address is the node's bridge (the pods' gateway).
	PodCIDR string
	// ClusterCIDR is the whole pod network, e.g. "10.88.0.0/16".
	ClusterCIDR string
	// NodeIP is the node's own address, the tunnel endpoint for overlays.
	NodeIP string
}

// NodeStatus is what the plugin made for the node.
type NodeStatus struct {
	// Bridge is the name of the node's pod bridge.
	Bridge string
	// GatewayIP is the bridge address in PodCIDR.
	GatewayIP string
	// MTU is the MTU pods get.
	MTU int
}

// PodRef names a pod. The UID is the key: a plugin knows a pod by its UID
// alone (it may use it in file and link names, so it is a short string of
// letters, digits, '-', '_' and '.', as Kubernetes UIDs are); Namespace and
// Name are echoed back and used in messages.
type PodRef struct {
	Namespace string
	Name      string
	UID       string
}

// PodNetwork is a pod's network as the plugin made it.
type PodNetwork struct {
	PodRef
	// NetNSPath is the pod's network namespace (a bind-mounted file).
	NetNSPath string
	// IPs are the pod's addresses, the primary first, without a prefix
	// length ("10.88.1.2").
	IPs []string
	// Interface is the pod-side link name ("eth0").
	Interface string
}

// Network is implemented by a network plugin.
type Network interface {
	base.Plugin

	// SetupNode prepares the node (bridge, routes, forwarding). It is called
	// at every agent start and whenever NodeConfig changes.
	SetupNode(ctx context.Context, cfg NodeConfig) (NodeStatus, error)

	// SetupPod makes the pod's network namespace with loopback up and an
	// address from the node's PodCIDR. It is idempotent per UID: called
	// again it returns the same namespace and address.
	//
	// Before SetupNode it fails with ErrNodeNotSetUp; when PodCIDR has no
	// free address, with ErrAddressesExhausted. A failed SetupPod leaves
	// nothing of the pod behind. The pod's host must be able to reach the
	// pod's address, and pods on one node each other's.
	SetupPod(ctx context.Context, pod PodRef) (PodNetwork, error)
	// TeardownPod removes the pod's links and namespace and releases its
	// address. Tearing down an unknown pod (or one already torn down) is
	// not an error.
	TeardownPod(ctx context.Context, pod PodRef) error
	// PodStatus returns the pod's network, or an error wrapping
	// base.ErrNotFound. Like ListPods it answers from the plugin's own
	// state: also after a restart of the plugin, before SetupNode is called
	// again.
	PodStatus(ctx context.Context, pod PodRef) (PodNetwork, error)
	// ListPods lists every pod the plugin has a network for.
	ListPods(ctx context.Context) ([]PodNetwork, error)
}

// Errors a network plugin returns, wrapped with detail.
var (
	// ErrNodeNotSetUp: SetupPod before SetupNode.
	ErrNodeNotSetUp = base.NewError("network.NodeNotSetUp", codes.FailedPrecondition, "node network not set up")
	// ErrAddressesExhausted: the node's PodCIDR has no free address.
	ErrAddressesExhausted = base.NewError("network.AddressesExhausted", codes.ResourceExhausted, "no free pod address")
)
