// Package network is the contract of a skiff network plugin
// (skiff.network.v1): the node's pod network, each pod's network namespace
// and address, the overlay between nodes, service virtual IPs and cluster
// DNS.
//
// The core decides which subnet a node gets and tells the plugin through
// SetupNode; the plugin makes the links and routes. SetupPod makes the
// pod's network namespace, which the runtime then joins every container of
// the pod to. Both setups are idempotent and must survive a restart of the
// plugin: after a restart the plugin finds its pods again from its own state
// under Config.DataDir.
//
// # Full state
//
// SetPeers and SetServices each carry the complete desired set, never a
// delta: the plugin converges the node to exactly that set (adding what is
// missing, correcting what differs, removing what is no longer listed), so
// calling either again with the same set changes nothing, and a call that
// was lost is repaired by the next one. The core calls them whenever its
// view changes and again after SetupNode (at agent start and after a
// restart of the plugin). A plugin may remember the last sets under
// Config.DataDir and re-apply them in SetupNode, but the core does not rely
// on it.
//
// # Revisions of skiff.network.v1
//
// Compatible additions are made to v1 (new RPCs, new fields); a core and a
// plugin built from different revisions still talk, and a call the plugin
// does not know fails with base.ErrUnsupported.
//
//   - r1: SetupNode, SetupPod, TeardownPod, PodStatus, ListPods.
//   - r2: NodeConfig.MTU and ClusterDomain; NodeStatus.VTEPMAC and DNSIP;
//     SetPeers, SetServices and TeardownNode.
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
	// An empty or loopback NodeIP means the node has no peers (a
	// single-node "dev" cluster): the plugin makes no overlay.
	NodeIP string
	// MTU is the MTU of the node's link to the other nodes (the link that
	// holds NodeIP), the "underlay". 0 means the plugin looks it up. The
	// plugin subtracts its encapsulation overhead from it to get the MTU
	// pods get (NodeStatus.MTU); a plugin setting may override that.
	MTU int
	// ClusterDomain is the DNS domain of the cluster; "" means
	// "cluster.local". Service S in namespace NS is S.NS.svc.<ClusterDomain>.
	ClusterDomain string
}

// DefaultClusterDomain is the cluster domain when NodeConfig.ClusterDomain
// is empty.
const DefaultClusterDomain = "cluster.local"

// NodeStatus is what the plugin made for the node.
type NodeStatus struct {
	// Bridge is the name of the node's pod bridge.
	Bridge string
	// GatewayIP is the bridge address in PodCIDR.
	GatewayIP string
	// MTU is the MTU pods get. With an overlay it leaves room for the
	// encapsulation: a packet of MTU bytes from a pod crosses to a pod on
	// another node whole.
	MTU int
	// VTEPMAC is the MAC address of the node's overlay endpoint (its VXLAN
	// device), or "" when the node has no overlay. The core publishes it on
	// the Node (as flannel does in its backend-data annotation) and hands
	// it to the other nodes in Peer.VTEPMAC. It stays the same across
	// SetupNode calls for one NodeName.
	VTEPMAC string
	// DNSIP is the address where the node serves cluster DNS to its pods
	// (UDP and TCP port 53), or "" when the plugin serves no DNS. The core
	// writes each pod's resolv.conf: "nameserver <DNSIP>", "search
	// <ns>.svc.<domain> svc.<domain> <domain>", "options ndots:5".
	DNSIP string
}

// Peer is another node of the cluster, as SetPeers sees it.
type Peer struct {
	// NodeName names the peer (used in messages and as the key).
	NodeName string
	// NodeIP is the peer's tunnel endpoint (its NodeConfig.NodeIP).
	NodeIP string
	// PodCIDR is the peer's pod subnet; traffic to it goes to the peer.
	PodCIDR string
	// VTEPMAC is the peer's NodeStatus.VTEPMAC.
	VTEPMAC string
}

// Service is a service virtual IP and its endpoints, as SetServices sees it.
type Service struct {
	Namespace string
	Name      string
	// ClusterIP is the virtual IP. "None" (or "") makes a headless
	// service: no virtual IP is programmed and DNS answers with the
	// endpoints' addresses.
	ClusterIP string
	// Ports are the service's ports; names are unique within a service
	// ("" is a valid name for a service's only port).
	Ports []ServicePort
	// Endpoints are the ready backends. Only endpoints listed here get
	// traffic: an endpoint removed leaves the rotation for new
	// connections at once.
	Endpoints []Endpoint
}

// ServicePort is one port of a service's virtual IP.
type ServicePort struct {
	// Name is the port's name, the key into Endpoint.Ports.
	Name string
	// Protocol is "TCP" or "UDP" ("" means TCP). Others fail with
	// base.ErrUnsupported.
	Protocol string
	// Port is the port on the ClusterIP.
	Port int
}

// Endpoint is one backend of a service.
type Endpoint struct {
	// IP is the backend's address (a pod IP).
	IP string
	// Ports maps ServicePort.Name to the port this endpoint serves it on:
	// the service's targetPort, resolved by the core, whether it was given
	// by number or by the name of a container port (which may differ from
	// pod to pod). A service port missing from the map is not served by
	// this endpoint; a name the service does not have is ignored (the
	// core's Endpoints may lag a change of the Service's ports).
	Ports map[string]int
}

// Protocols of a ServicePort.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

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

	// SetPeers makes the node reach the pods of exactly these other nodes
	// over the overlay: traffic to a peer's PodCIDR goes to its NodeIP.
	// It is full state (see the package comment): peers no longer listed
	// are removed, pods are not touched. A peer whose NodeName is the
	// node's own is ignored, as is a peer without NodeIP, PodCIDR or
	// VTEPMAC (not set up yet). A malformed peer, or one whose PodCIDR
	// overlaps the node's or another peer's, fails the whole call with
	// base.ErrInvalid and changes nothing.
	//
	// Before SetupNode it fails with ErrNodeNotSetUp, as it does with a
	// non-empty set on a node without overlay (NodeStatus.VTEPMAC == "").
	// Nothing may depend on the kernel's miss notifications: a peer is
	// reachable as soon as SetPeers returns.
	SetPeers(ctx context.Context, peers []Peer) error

	// SetServices programs exactly these services on the node: each
	// ClusterIP:Port, reached from the node's pods, is balanced across the
	// endpoints that serve the port (new connections spread at random),
	// also when the endpoint is the client itself (hairpin). A connection
	// to a ClusterIP:Port without endpoints is refused. The node's DNS
	// (NodeStatus.DNSIP) answers from the same set. It is full state (see
	// the package comment). An invalid service (bad names, addresses or
	// ports, a duplicate namespace/name, ClusterIP or port) fails the
	// whole call with base.ErrInvalid, naming it, and changes nothing.
	//
	// Before SetupNode it fails with ErrNodeNotSetUp.
	SetServices(ctx context.Context, services []Service) error

	// TeardownNode undoes everything the plugin did on the node: every
	// pod (as TeardownPod), the bridge, the overlay and its peers, the
	// service rules, the DNS server, and the records under DataDir. It may
	// leave kernel settings on that other software may rely on (IPv4
	// forwarding). Afterwards SetupPod fails with ErrNodeNotSetUp until
	// SetupNode runs again. Calling it again, or before SetupNode, is not
	// an error. The core calls it when a node is removed for good
	// ("skiffctl cluster delete", node reset).
	TeardownNode(ctx context.Context) error
}

// Errors a network plugin returns, wrapped with detail.
var (
	// ErrNodeNotSetUp: SetupPod before SetupNode.
	ErrNodeNotSetUp = base.NewError("network.NodeNotSetUp", codes.FailedPrecondition, "node network not set up")
	// ErrAddressesExhausted: the node's PodCIDR has no free address.
	ErrAddressesExhausted = base.NewError("network.AddressesExhausted", codes.ResourceExhausted, "no free pod address")
)
