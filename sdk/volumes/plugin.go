package volumes

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes/volumespb"
)

// GRPCPlugin is the go-plugin plugin of the volumes kind, for API version
// APIVersion. The plugin side sets Impl (Serve does it); the host side
// leaves it nil and gets a Volumes from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Volumes
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer serves skiff.base.v1.Plugin and skiff.volumes.v1.Volumes for
// Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("volumes plugin: GRPCPlugin.Impl is nil")
	}
	base.RegisterPluginServer(s, p.Impl, base.KindVolumes, APIVersion)
	volumespb.RegisterVolumesServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Volumes that calls the plugin over c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return newClient(c), nil
}

// Serve runs a volumes plugin binary: main is usually just
// volumes.Serve(myplugin.New()).
func Serve(impl Volumes) {
	base.Serve(base.KindVolumes, map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Impl: impl}})
}

// ClientVersions is what the host passes to base.ClientConfig to load a
// volumes plugin: every API version this SDK speaks.
func ClientVersions() map[int]plugin.Plugin {
	return map[int]plugin.Plugin{APIVersion: &GRPCPlugin{}}
}
