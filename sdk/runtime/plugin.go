package runtime

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime/runtimepb"
)

// GRPCPlugin is the go-plugin glue for a runtime. A plugin binary serves it
// with Impl set (see Serve); the host uses it with Impl nil (see
// ClientVersions) and gets a Runtime back from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Runtime
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the base Plugin service and the runtime service for
// Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	base.RegisterPluginServer(s, p.Impl, base.KindRuntime, APIVersion)
	runtimepb.RegisterRuntimeServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Runtime that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return newClient(conn), nil
}

// Serve runs a runtime plugin binary until the core closes it. Call it from
// main.
func Serve(impl Runtime) {
	base.Serve(base.KindRuntime, map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Impl: impl}})
}

// ClientVersions is the host's side of version negotiation: every API
// version of the runtime contract this SDK can call.
func ClientVersions() map[int]plugin.Plugin {
	return map[int]plugin.Plugin{APIVersion: &GRPCPlugin{}}
}
