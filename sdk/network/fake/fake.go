// Package fake is a network.Network for unit tests of callers (the agent):
// each method calls the function field of the same name, and a nil field
// makes the method fail with an error wrapping base.ErrUnsupported.
//
//	n := &fake.Network{
//		SetupPodFunc: func(ctx context.Context, pod network.PodRef) (network.PodNetwork, error) {
//			return network.PodNetwork{PodRef: pod, IPs: []string{"10.88.1.2"}}, nil
//		},
//	}
package fake

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// Network is a network.Network made of function fields.
type Network struct {
	InfoFunc         func(ctx context.Context) (base.Info, error)
	ConfigureFunc    func(ctx context.Context, cfg base.Config) error
	SetupNodeFunc    func(ctx context.Context, cfg network.NodeConfig) (network.NodeStatus, error)
	SetupPodFunc     func(ctx context.Context, pod network.PodRef) (network.PodNetwork, error)
	TeardownPodFunc  func(ctx context.Context, pod network.PodRef) error
	PodStatusFunc    func(ctx context.Context, pod network.PodRef) (network.PodNetwork, error)
	ListPodsFunc     func(ctx context.Context) ([]network.PodNetwork, error)
	SetPeersFunc     func(ctx context.Context, peers []network.Peer) error
	SetServicesFunc  func(ctx context.Context, services []network.Service) error
	TeardownNodeFunc func(ctx context.Context) error
}

var _ network.Network = (*Network)(nil)

func unsupported(method string) error {
	return fmt.Errorf("fake network: %s: %w", method, base.ErrUnsupported)
}

// Info implements base.Plugin.
func (n *Network) Info(ctx context.Context) (base.Info, error) {
	if n.InfoFunc == nil {
		return base.Info{}, unsupported("Info")
	}
	return n.InfoFunc(ctx)
}

// Configure implements base.Plugin.
func (n *Network) Configure(ctx context.Context, cfg base.Config) error {
	if n.ConfigureFunc == nil {
		return unsupported("Configure")
	}
	return n.ConfigureFunc(ctx, cfg)
}

// SetupNode implements network.Network.
func (n *Network) SetupNode(ctx context.Context, cfg network.NodeConfig) (network.NodeStatus, error) {
	if n.SetupNodeFunc == nil {
		return network.NodeStatus{}, unsupported("SetupNode")
	}
	return n.SetupNodeFunc(ctx, cfg)
}

// SetupPod implements network.Network.
func (n *Network) SetupPod(ctx context.Context, pod network.PodRef) (network.PodNetwork, error) {
	if n.SetupPodFunc == nil {
		return network.PodNetwork{}, unsupported("SetupPod")
	}
	return n.SetupPodFunc(ctx, pod)
}

// TeardownPod implements network.Network.
func (n *Network) TeardownPod(ctx context.Context, pod network.PodRef) error {
	if n.TeardownPodFunc == nil {
		return unsupported("TeardownPod")
	}
	return n.TeardownPodFunc(ctx, pod)
}

// PodStatus implements network.Network.
func (n *Network) PodStatus(ctx context.Context, pod network.PodRef) (network.PodNetwork, error) {
	if n.PodStatusFunc == nil {
		return network.PodNetwork{}, unsupported("PodStatus")
	}
	return n.PodStatusFunc(ctx, pod)
}

// ListPods implements network.Network.
func (n *Network) ListPods(ctx context.Context) ([]network.PodNetwork, error) {
	if n.ListPodsFunc == nil {
		return nil, unsupported("ListPods")
	}
	return n.ListPodsFunc(ctx)
}

// SetPeers implements network.Network.
func (n *Network) SetPeers(ctx context.Context, peers []network.Peer) error {
	if n.SetPeersFunc == nil {
		return unsupported("SetPeers")
	}
	return n.SetPeersFunc(ctx, peers)
}

// SetServices implements network.Network.
func (n *Network) SetServices(ctx context.Context, services []network.Service) error {
	if n.SetServicesFunc == nil {
		return unsupported("SetServices")
	}
	return n.SetServicesFunc(ctx, services)
}

// TeardownNode implements network.Network.
func (n *Network) TeardownNode(ctx context.Context) error {
	if n.TeardownNodeFunc == nil {
		return unsupported("TeardownNode")
	}
	return n.TeardownNodeFunc(ctx)
}
