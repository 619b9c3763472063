package scheduler

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler/schedulerpb"
)

// GRPCPlugin is the go-plugin plugin of the scheduler kind, for API version
// APIVersion. The plugin side sets Impl (Serve does it); the host side leaves
// it nil and gets a Scheduler from Dispense.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Scheduler
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer serves skiff.base.v1.Plugin and skiff.scheduler.v1.Scheduler
// for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("scheduler plugin: GRPCPlugin.Impl is nil")
	}
	base.RegisterPluginServer(s, p.Impl, base.KindScheduler, APIVersion)
	schedulerpb.RegisterSchedulerServer(s, &server{impl: p.Impl})
	return nil
}

// GRPCClient returns a Scheduler that calls the plugin over c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return newClient(c), nil
}

// Serve runs a scheduler plugin binary: main is usually just
// scheduler.Serve(myplugin.New()).
func Serve(impl Scheduler) {
	base.Serve(base.KindScheduler, map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Impl: impl}})
}

// ClientVersions is what the host passes to base.ClientConfig to load a
// scheduler plugin: every API version this SDK speaks.
func ClientVersions() map[int]plugin.Plugin {
	return map[int]plugin.Plugin{APIVersion: &GRPCPlugin{}}
}
