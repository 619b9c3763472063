package network

import (
	"context"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network/networkpb"
)

// server serves skiff.network.v1 for a plugin's Network implementation.
type server struct {
	networkpb.UnimplementedNetworkServer
	impl Network
}

func (s *server) SetupNode(ctx context.Context, req *networkpb.SetupNodeRequest) (*networkpb.SetupNodeResponse, error) {
	st, err := s.impl.SetupNode(ctx, nodeConfigFromProto(req.GetConfig()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.SetupNodeResponse{Status: nodeStatusToProto(st)}, nil
}

func (s *server) SetupPod(ctx context.Context, req *networkpb.SetupPodRequest) (*networkpb.SetupPodResponse, error) {
	pn, err := s.impl.SetupPod(ctx, podRefFromProto(req.GetPod()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.SetupPodResponse{Network: podNetworkToProto(pn)}, nil
}

func (s *server) TeardownPod(ctx context.Context, req *networkpb.TeardownPodRequest) (*networkpb.TeardownPodResponse, error) {
	if err := s.impl.TeardownPod(ctx, podRefFromProto(req.GetPod())); err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.TeardownPodResponse{}, nil
}

func (s *server) PodStatus(ctx context.Context, req *networkpb.PodStatusRequest) (*networkpb.PodStatusResponse, error) {
	pn, err := s.impl.PodStatus(ctx, podRefFromProto(req.GetPod()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.PodStatusResponse{Network: podNetworkToProto(pn)}, nil
}

func (s *server) ListPods(ctx context.Context, _ *networkpb.ListPodsRequest) (*networkpb.ListPodsResponse, error) {
	pods, err := s.impl.ListPods(ctx)
	if err != nil {
		return nil, base.ToStatus(err)
	}
	resp := &networkpb.ListPodsResponse{Pods: make([]*networkpb.PodNetwork, 0, len(pods))}
	for _, p := range pods {
		resp.Pods = append(resp.Pods, podNetworkToProto(p))
	}
	return resp, nil
}

func (s *server) SetPeers(ctx context.Context, req *networkpb.SetPeersRequest) (*networkpb.SetPeersResponse, error) {
	if err := s.impl.SetPeers(ctx, peersFromProto(req.GetPeers())); err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.SetPeersResponse{}, nil
}

func (s *server) SetServices(ctx context.Context, req *networkpb.SetServicesRequest) (*networkpb.SetServicesResponse, error) {
	if err := s.impl.SetServices(ctx, servicesFromProto(req.GetServices())); err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.SetServicesResponse{}, nil
}

func (s *server) TeardownNode(ctx context.Context, _ *networkpb.TeardownNodeRequest) (*networkpb.TeardownNodeResponse, error) {
	if err := s.impl.TeardownNode(ctx); err != nil {
		return nil, base.ToStatus(err)
	}
	return &networkpb.TeardownNodeResponse{}, nil
}
