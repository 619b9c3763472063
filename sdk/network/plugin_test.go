package network_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/network/fake"
	"github.com/skiffhq/skiff/sdk/network/networkpb"
)

// dial serves impl over go-plugin's in-memory gRPC connection and returns
// the client side, as the host would see it.
func dial(t *testing.T, impl network.Network) network.Network {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindNetwork): &network.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's controller Shutdown);
		// stopping it here as well would race with that.
		if err := client.Close(); err != nil {
			server.Stop()
		}
	})
	raw, err := client.Dispense(string(base.KindNetwork))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(network.Network)
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	nodeCfg := network.NodeConfig{NodeName: "n1", PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16", NodeIP: "192.0.2.1", MTU: 1500, ClusterDomain: "example.local"}
	nodeSt := network.NodeStatus{Bridge: "skiff0", GatewayIP: "10.88.1.1", MTU: 1450, VTEPMAC: "0e:00:00:00:00:01", DNSIP: "10.88.1.1"}
	peers := []network.Peer{
		{NodeName: "n2", NodeIP: "192.0.2.2", PodCIDR: "10.88.2.0/24", VTEPMAC: "0e:00:00:00:00:02"},
		{NodeName: "n3", NodeIP: "192.0.2.3", PodCIDR: "10.88.3.0/24", VTEPMAC: "0e:00:00:00:00:03"},
	}
	services := []network.Service{
		{
			Namespace: "default", Name: "web", ClusterIP: "10.96.0.10",
			Ports: []network.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}},
			Endpoints: []network.Endpoint{
				{IP: "10.88.1.2", Ports: map[string]int{"http": 8080, "dns": 5353}},
				{IP: "10.88.2.2", Ports: map[string]int{"http": 8081}},
			},
		},
		{Namespace: "kube-system", Name: "db", ClusterIP: "None", Ports: []network.ServicePort{{Port: 5432}}},
	}
	pod := network.PodRef{Namespace: "default", Name: "nginx", UID: "6f1c2a9e"}
	pn := network.PodNetwork{PodRef: pod, NetNSPath: "/run/skiff/netns/6f1c2a9e", IPs: []string{"10.88.1.2", "fd00::2"}, Interface: "eth0"}
	info := base.Info{Kind: base.KindNetwork, Name: "fake", Version: "1.2.3", APIVersion: network.APIVersion,
		Settings: []base.SettingSpec{{Name: "bridge", Description: "the bridge", Default: "skiff0"}}}
	cfg := base.Config{NodeName: "n1", DataDir: "/var/lib/skiff", Settings: map[string]string{"bridge": "br1"}}

	var gotCfg base.Config
	var gotNode network.NodeConfig
	var gotPods []network.PodRef
	var gotPeers []network.Peer
	var gotServices []network.Service
	tornDown := false
	n := dial(t, &fake.Network{
		SetPeersFunc:     func(_ context.Context, p []network.Peer) error { gotPeers = p; return nil },
		SetServicesFunc:  func(_ context.Context, s []network.Service) error { gotServices = s; return nil },
		TeardownNodeFunc: func(context.Context) error { tornDown = true; return nil },
		InfoFunc:         func(context.Context) (base.Info, error) { return info, nil },
		ConfigureFunc:    func(_ context.Context, c base.Config) error { gotCfg = c; return nil },
		SetupNodeFunc: func(_ context.Context, c network.NodeConfig) (network.NodeStatus, error) {
			gotNode = c
			return nodeSt, nil
		},
		SetupPodFunc: func(_ context.Context, p network.PodRef) (network.PodNetwork, error) {
			gotPods = append(gotPods, p)
			return pn, nil
		},
		TeardownPodFunc: func(_ context.Context, p network.PodRef) error { gotPods = append(gotPods, p); return nil },
		PodStatusFunc:   func(context.Context, network.PodRef) (network.PodNetwork, error) { return pn, nil },
		ListPodsFunc:    func(context.Context) ([]network.PodNetwork, error) { return []network.PodNetwork{pn, pn}, nil },
	})

	if got, err := n.Info(ctx); err != nil || !reflect.DeepEqual(got, info) {
		t.Errorf("Info = %+v, %v; want %+v", got, err, info)
	}
	if err := n.Configure(ctx, cfg); err != nil || !reflect.DeepEqual(gotCfg, cfg) {
		t.Errorf("Configure: err %v, plugin got %+v, want %+v", err, gotCfg, cfg)
	}
	if got, err := n.SetupNode(ctx, nodeCfg); err != nil || got != nodeSt || gotNode != nodeCfg {
		t.Errorf("SetupNode = %+v, %v (plugin got %+v); want %+v", got, err, gotNode, nodeSt)
	}
	if got, err := n.SetupPod(ctx, pod); err != nil || !reflect.DeepEqual(got, pn) {
		t.Errorf("SetupPod = %+v, %v; want %+v", got, err, pn)
	}
	if err := n.TeardownPod(ctx, pod); err != nil {
		t.Errorf("TeardownPod: %v", err)
	}
	if len(gotPods) != 2 || gotPods[0] != pod || gotPods[1] != pod {
		t.Errorf("plugin got pods %+v, want %+v twice", gotPods, pod)
	}
	if got, err := n.PodStatus(ctx, pod); err != nil || !reflect.DeepEqual(got, pn) {
		t.Errorf("PodStatus = %+v, %v; want %+v", got, err, pn)
	}
	if got, err := n.ListPods(ctx); err != nil || !reflect.DeepEqual(got, []network.PodNetwork{pn, pn}) {
		t.Errorf("ListPods = %+v, %v", got, err)
	}
	if err := n.SetPeers(ctx, peers); err != nil || !reflect.DeepEqual(gotPeers, peers) {
		t.Errorf("SetPeers: err %v, plugin got %+v, want %+v", err, gotPeers, peers)
	}
	if err := n.SetPeers(ctx, nil); err != nil || len(gotPeers) != 0 {
		t.Errorf("SetPeers(nil): err %v, plugin got %+v, want none", err, gotPeers)
	}
	if err := n.SetServices(ctx, services); err != nil || !reflect.DeepEqual(gotServices, services) {
		t.Errorf("SetServices: err %v, plugin got %+v, want %+v", err, gotServices, services)
	}
	if err := n.TeardownNode(ctx); err != nil || !tornDown {
		t.Errorf("TeardownNode: err %v, reached the plugin: %v", err, tornDown)
	}
}

// r1Plugin serves skiff.network.v1 as a plugin built before SetPeers,
// SetServices and TeardownNode existed: every RPC is unimplemented.
type r1Plugin struct{ network.GRPCPlugin }

func (p *r1Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	networkpb.RegisterNetworkServer(s, networkpb.UnimplementedNetworkServer{})
	return nil
}

// TestOlderPluginAnswersUnsupported: a core of this revision calling the new
// RPCs on an older plugin gets base.ErrUnsupported, not a transport error.
func TestOlderPluginAnswersUnsupported(t *testing.T) {
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{string(base.KindNetwork): &r1Plugin{}})
	t.Cleanup(func() {
		if err := client.Close(); err != nil {
			server.Stop()
		}
	})
	raw, err := client.Dispense(string(base.KindNetwork))
	if err != nil {
		t.Fatal(err)
	}
	n := raw.(network.Network)
	ctx := context.Background()
	if err := n.SetPeers(ctx, nil); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetPeers on an r1 plugin: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.SetServices(ctx, nil); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetServices on an r1 plugin: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.TeardownNode(ctx); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("TeardownNode on an r1 plugin: err = %v, want base.ErrUnsupported", err)
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	ctx := context.Background()
	for _, sentinel := range []error{network.ErrNodeNotSetUp, network.ErrAddressesExhausted, base.ErrNotFound, base.ErrInvalid} {
		wrapped := fmt.Errorf(`pod "default/nginx": %w`, sentinel)
		n := dial(t, &fake.Network{
			SetupPodFunc: func(context.Context, network.PodRef) (network.PodNetwork, error) {
				return network.PodNetwork{}, wrapped
			},
			PodStatusFunc: func(context.Context, network.PodRef) (network.PodNetwork, error) {
				return network.PodNetwork{}, wrapped
			},
		})
		_, err := n.SetupPod(ctx, network.PodRef{UID: "u"})
		if !errors.Is(err, sentinel) {
			t.Errorf("SetupPod: err = %v, want one wrapping %v", err, sentinel)
		}
		if err == nil || err.Error() != wrapped.Error() {
			t.Errorf("SetupPod: message = %v, want %q", err, wrapped)
		}
		if _, err := n.PodStatus(ctx, network.PodRef{UID: "u"}); !errors.Is(err, sentinel) {
			t.Errorf("PodStatus: err = %v, want one wrapping %v", err, sentinel)
		}
	}
}

func TestFakeNilFieldIsUnsupported(t *testing.T) {
	n := dial(t, &fake.Network{})
	ctx := context.Background()
	if _, err := n.SetupNode(ctx, network.NodeConfig{}); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetupNode on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.TeardownPod(ctx, network.PodRef{}); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("TeardownPod on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if _, err := n.ListPods(ctx); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("ListPods on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.SetPeers(ctx, nil); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetPeers on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.SetServices(ctx, nil); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetServices on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if err := n.TeardownNode(ctx); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("TeardownNode on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
	if _, err := n.Info(ctx); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("Info on an empty fake: err = %v, want base.ErrUnsupported", err)
	}
}

func TestClientVersions(t *testing.T) {
	v := network.ClientVersions()
	p, ok := v[network.APIVersion].(*network.GRPCPlugin)
	if len(v) != 1 || !ok || p.Impl != nil {
		t.Errorf("ClientVersions = %#v, want one GRPCPlugin without Impl at version %d", v, network.APIVersion)
	}
}

func TestGRPCServerNeedsImpl(t *testing.T) {
	if err := (&network.GRPCPlugin{}).GRPCServer(nil, nil); err == nil {
		t.Error("GRPCServer without Impl: want an error")
	}
}
