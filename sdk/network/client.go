package network

import (
	"context"

	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network/networkpb"
)

// client is the caller's side of skiff.network.v1. Protobuf never leaves this
// file and server.go: callers only see the Network interface.
type client struct {
	*base.PluginClient
	c networkpb.NetworkClient
}

var _ Network = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{PluginClient: base.NewPluginClient(conn), c: networkpb.NewNetworkClient(conn)}
}

func (c *client) SetupNode(ctx context.Context, cfg NodeConfig) (NodeStatus, error) {
	resp, err := c.c.SetupNode(ctx, &networkpb.SetupNodeRequest{Config: nodeConfigToProto(cfg)})
	if err != nil {
		return NodeStatus{}, base.FromStatus(err)
	}
	return nodeStatusFromProto(resp.GetStatus()), nil
}

func (c *client) SetupPod(ctx context.Context, pod PodRef) (PodNetwork, error) {
	resp, err := c.c.SetupPod(ctx, &networkpb.SetupPodRequest{Pod: podRefToProto(pod)})
	if err != nil {
		return PodNetwork{}, base.FromStatus(err)
	}
	return podNetworkFromProto(resp.GetNetwork()), nil
}

func (c *client) TeardownPod(ctx context.Context, pod PodRef) error {
	_, err := c.c.TeardownPod(ctx, &networkpb.TeardownPodRequest{Pod: podRefToProto(pod)})
	return base.FromStatus(err)
}

func (c *client) PodStatus(ctx context.Context, pod PodRef) (PodNetwork, error) {
	resp, err := c.c.PodStatus(ctx, &networkpb.PodStatusRequest{Pod: podRefToProto(pod)})
	if err != nil {
		return PodNetwork{}, base.FromStatus(err)
	}
	return podNetworkFromProto(resp.GetNetwork()), nil
}

func (c *client) ListPods(ctx context.Context) ([]PodNetwork, error) {
	resp, err := c.c.ListPods(ctx, &networkpb.ListPodsRequest{})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	pods := make([]PodNetwork, 0, len(resp.GetPods()))
	for _, p := range resp.GetPods() {
		pods = append(pods, podNetworkFromProto(p))
	}
	return pods, nil
}

func (c *client) SetPeers(ctx context.Context, peers []Peer) error {
	_, err := c.c.SetPeers(ctx, &networkpb.SetPeersRequest{Peers: peersToProto(peers)})
	return base.FromStatus(err)
}

func (c *client) SetServices(ctx context.Context, services []Service) error {
	_, err := c.c.SetServices(ctx, &networkpb.SetServicesRequest{Services: servicesToProto(services)})
	return base.FromStatus(err)
}

func (c *client) TeardownNode(ctx context.Context) error {
	_, err := c.c.TeardownNode(ctx, &networkpb.TeardownNodeRequest{})
	return base.FromStatus(err)
}
