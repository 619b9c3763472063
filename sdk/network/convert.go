package network

import "github.com/skiffhq/skiff/sdk/network/networkpb"

// Conversions between the contract's types and their protobuf form, shared by
// client.go and server.go.

func nodeConfigToProto(c NodeConfig) *networkpb.NodeConfig {
	return &networkpb.NodeConfig{NodeName: c.NodeName, PodCidr: c.PodCIDR, ClusterCidr: c.ClusterCIDR, NodeIp: c.NodeIP}
}

func nodeConfigFromProto(c *networkpb.NodeConfig) NodeConfig {
	return NodeConfig{NodeName: c.GetNodeName(), PodCIDR: c.GetPodCidr(), ClusterCIDR: c.GetClusterCidr(), NodeIP: c.GetNodeIp()}
}

func nodeStatusToProto(s NodeStatus) *networkpb.NodeStatus {
	return &networkpb.NodeStatus{Bridge: s.Bridge, GatewayIp: s.GatewayIP, Mtu: int32(s.MTU)}
}

func nodeStatusFromProto(s *networkpb.NodeStatus) NodeStatus {
	return NodeStatus{Bridge: s.GetBridge(), GatewayIP: s.GetGatewayIp(), MTU: int(s.GetMtu())}
}

func podRefToProto(p PodRef) *networkpb.PodRef {
	return &networkpb.PodRef{Namespace: p.Namespace, Name: p.Name, Uid: p.UID}
}

func podRefFromProto(p *networkpb.PodRef) PodRef {
	return PodRef{Namespace: p.GetNamespace(), Name: p.GetName(), UID: p.GetUid()}
}

func podNetworkToProto(p PodNetwork) *networkpb.PodNetwork {
	return &networkpb.PodNetwork{
		Pod:       podRefToProto(p.PodRef),
		NetnsPath: p.NetNSPath,
		Ips:       append([]string(nil), p.IPs...),
		Interface: p.Interface,
	}
}

func podNetworkFromProto(p *networkpb.PodNetwork) PodNetwork {
	return PodNetwork{
		PodRef:    podRefFromProto(p.GetPod()),
		NetNSPath: p.GetNetnsPath(),
		IPs:       append([]string(nil), p.GetIps()...),
		Interface: p.GetInterface(),
	}
}
