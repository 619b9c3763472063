package probes

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes/probespb"
)

// GRPCPlugin is the go-plugin plugin of the probes kind, for API version
// APIVersion.
//
// The plugin side sets Impl (Serve does it). The host side sets Host, the
// core's way into containers for exec probes: the Prober it gets from
// Dispense serves Host over go-plugin's GRPCBroker and, before its first
// AddContainer, hands it to the plugin, whose Impl receives it through
// HostSetter. With Host nil the plugin gets no Host, and exec probes cannot
// run.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Prober
	Host Host
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer serves skiff.base.v1.Plugin and skiff.probes.v1.Prober for
// Impl.
func (p *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("probes plugin: GRPCPlugin.Impl is nil")
	}
	base.RegisterPluginServer(s, p.Impl, base.KindProbes, APIVersion)
	probespb.RegisterProberServer(s, &server{impl: p.Impl, broker: broker})
	return nil
}

// GRPCClient returns a Prober that calls the plugin over c and offers it
// p.Host.
func (p *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return newClient(c, broker, p.Host), nil
}

// Serve runs a probes plugin binary: main is usually just
// probes.Serve(myplugin.New()).
func Serve(impl Prober) {
	base.Serve(base.KindProbes, map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Impl: impl}})
}

// ClientVersions is what a host without exec support passes to
// base.ClientConfig: every API version this SDK speaks, with no Host.
func ClientVersions() map[int]plugin.Plugin {
	return ClientVersionsWithHost(nil)
}

// ClientVersionsWithHost is ClientVersions for a host that offers h to the
// plugin for exec probes.
func ClientVersionsWithHost(h Host) map[int]plugin.Plugin {
	return map[int]plugin.Plugin{APIVersion: &GRPCPlugin{Host: h}}
}
