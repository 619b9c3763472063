package network

import "github.com/skiffhq/skiff/sdk/network/networkpb"

// Conversions between the contract's types and their protobuf form, shared by
// client.go and server.go.

func nodeConfigToProto(c NodeConfig) *networkpb.NodeConfig {
	return &networkpb.NodeConfig{
		NodeName: c.NodeName, PodCidr: c.PodCIDR, ClusterCidr: c.ClusterCIDR, NodeIp: c.NodeIP,
		Mtu: int32(c.MTU), ClusterDomain: c.ClusterDomain,
	}
}

func nodeConfigFromProto(c *networkpb.NodeConfig) NodeConfig {
	return NodeConfig{
		NodeName: c.GetNodeName(), PodCIDR: c.GetPodCidr(), ClusterCIDR: c.GetClusterCidr(), NodeIP: c.GetNodeIp(),
		MTU: int(c.GetMtu()), ClusterDomain: c.GetClusterDomain(),
	}
}

func nodeStatusToProto(s NodeStatus) *networkpb.NodeStatus {
	return &networkpb.NodeStatus{Bridge: s.Bridge, GatewayIp: s.GatewayIP, Mtu: int32(s.MTU), VtepMac: s.VTEPMAC, DnsIp: s.DNSIP}
}

func nodeStatusFromProto(s *networkpb.NodeStatus) NodeStatus {
	return NodeStatus{Bridge: s.GetBridge(), GatewayIP: s.GetGatewayIp(), MTU: int(s.GetMtu()), VTEPMAC: s.GetVtepMac(), DNSIP: s.GetDnsIp()}
}

func peersToProto(peers []Peer) []*networkpb.Peer {
	out := make([]*networkpb.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, &networkpb.Peer{NodeName: p.NodeName, NodeIp: p.NodeIP, PodCidr: p.PodCIDR, VtepMac: p.VTEPMAC})
	}
	return out
}

func peersFromProto(peers []*networkpb.Peer) []Peer {
	out := make([]Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, Peer{NodeName: p.GetNodeName(), NodeIP: p.GetNodeIp(), PodCIDR: p.GetPodCidr(), VTEPMAC: p.GetVtepMac()})
	}
	return out
}

func servicesToProto(services []Service) []*networkpb.Service {
	out := make([]*networkpb.Service, 0, len(services))
	for _, s := range services {
		ps := &networkpb.Service{Namespace: s.Namespace, Name: s.Name, ClusterIp: s.ClusterIP}
		for _, p := range s.Ports {
			ps.Ports = append(ps.Ports, &networkpb.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: int32(p.Port)})
		}
		for _, e := range s.Endpoints {
			pe := &networkpb.Endpoint{Ip: e.IP}
			if len(e.Ports) > 0 {
				pe.Ports = make(map[string]int32, len(e.Ports))
				for name, port := range e.Ports {
					pe.Ports[name] = int32(port)
				}
			}
			ps.Endpoints = append(ps.Endpoints, pe)
		}
		out = append(out, ps)
	}
	return out
}

func servicesFromProto(services []*networkpb.Service) []Service {
	out := make([]Service, 0, len(services))
	for _, ps := range services {
		s := Service{Namespace: ps.GetNamespace(), Name: ps.GetName(), ClusterIP: ps.GetClusterIp()}
		for _, p := range ps.GetPorts() {
			s.Ports = append(s.Ports, ServicePort{Name: p.GetName(), Protocol: p.GetProtocol(), Port: int(p.GetPort())})
		}
		for _, pe := range ps.GetEndpoints() {
			e := Endpoint{IP: pe.GetIp()}
			if len(pe.GetPorts()) > 0 {
				e.Ports = make(map[string]int, len(pe.GetPorts()))
				for name, port := range pe.GetPorts() {
					e.Ports[name] = int(port)
				}
			}
			s.Endpoints = append(s.Endpoints, e)
		}
		out = append(out, s)
	}
	return out
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
