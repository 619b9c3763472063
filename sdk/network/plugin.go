package network

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network/networkpb"
)

// GRPCPlugin is the go-plugin glue for the network kind. A plugin binary
// never builds one by hand (it calls Serve); the host gets one per API
// version from ClientVersions.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin's implementation; only the serving side sets it.
	Impl Network
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer serves skiff.base.v1.Plugin and skiff.network.v1.Network for
// Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("network plugin: GRPCPlugin.Impl is nil")
	}
	base.RegisterPluginServer(s, p.Impl, base.KindNetwork, APIVersion)
	networkpb.RegisterNetworkServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Network that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return newClient(conn), nil
}

// Serve runs a network plugin binary until the core closes it. A plugin's
// main is one line: network.Serve(myplugin.New()).
func Serve(impl Network) {
	base.Serve(base.KindNetwork, map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Impl: impl}})
}

// ClientVersions is the plugin set the host hands go-plugin (through
// base.ClientConfig) to launch a network plugin: one entry per API version
// this SDK speaks.
func ClientVersions() map[int]plugin.Plugin {
	return map[int]plugin.Plugin{APIVersion: &GRPCPlugin{}}
}
