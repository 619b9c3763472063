package base

import (
	"context"
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base/basepb"
)

// Serve runs a plugin binary until the core closes it. versions maps each API
// version of the kind's contract the binary speaks to the go-plugin.Plugin
// that serves it; go-plugin picks the newest version both sides speak. Kind
// packages wrap this (scheduler.Serve, runtime.Serve, ...).
func Serve(kind Kind, versions map[int]plugin.Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(kind, versions),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, WindowServerOptions()...)...)
		},
		// JSON on stderr: the core parses it into its plugin log.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       string(kind),
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.Info,
		}),
	})
}

// ClientConfig is the go-plugin client configuration the host uses to launch
// a plugin binary of the given kind. The host adds logging and process
// settings on top.
func ClientConfig(kind Kind, cmd *exec.Cmd, versions map[int]plugin.Plugin) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: pluginSets(kind, versions),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions:  WindowDialOptions(),
	}
}

// Flow-control windows for skiff's streams (logs, exec, port-forward,
// image import). gRPC's 64 KiB default caps a stream relayed over several
// hops far below what the links carry.
const (
	streamWindow = 4 << 20
	connWindow   = 8 << 20
)

// StreamChunk is the most data one message of a byte stream (logs, exec,
// port-forward) should carry. gRPC encodes and decodes each message in a
// buffer from a pool whose classes jump from 32 KiB to 1 MiB, and zeroes the
// whole buffer every time: a 32 KiB payload plus its few bytes of framing
// costs a megabyte of zeroing per message on both ends of every hop (most of
// port-forward's CPU before). This size leaves room for the framing.
const StreamChunk = 32<<10 - 64

// WindowServerOptions are the window sizes every skiff gRPC server uses.
func WindowServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow)}
}

// WindowDialOptions are the window sizes every skiff gRPC client uses.
func WindowDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow)}
}

func pluginSets(kind Kind, versions map[int]plugin.Plugin) map[int]plugin.PluginSet {
	sets := make(map[int]plugin.PluginSet, len(versions))
	for v, p := range versions {
		sets[v] = plugin.PluginSet{string(kind): p}
	}
	return sets
}

// RegisterPluginServer serves the skiff.base.v1.Plugin service for impl. Kind
// packages call it from their GRPCServer, beside their own service, with
// their kind and the API version that GRPCServer serves: Info reports them,
// since an implementation cannot know which version was negotiated.
func RegisterPluginServer(s *grpc.Server, impl Plugin, kind Kind, apiVersion int) {
	basepb.RegisterPluginServer(s, &pluginServer{impl: impl, kind: kind, apiVersion: apiVersion})
}

type pluginServer struct {
	basepb.UnimplementedPluginServer
	impl       Plugin
	kind       Kind
	apiVersion int
}

func (s *pluginServer) GetInfo(ctx context.Context, _ *basepb.GetInfoRequest) (*basepb.Info, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, ToStatus(err)
	}
	if info.Kind == "" {
		info.Kind = s.kind
	}
	info.APIVersion = s.apiVersion
	out := &basepb.Info{Kind: string(info.Kind), Name: info.Name, Version: info.Version, ApiVersion: int32(info.APIVersion)}
	for _, sp := range info.Settings {
		out.Settings = append(out.Settings, &basepb.SettingSpec{Name: sp.Name, Description: sp.Description, Required: sp.Required, Default: sp.Default})
	}
	return out, nil
}

func (s *pluginServer) Configure(ctx context.Context, req *basepb.ConfigureRequest) (*basepb.ConfigureResponse, error) {
	err := s.impl.Configure(ctx, Config{NodeName: req.NodeName, DataDir: req.DataDir, Settings: req.Settings})
	return &basepb.ConfigureResponse{}, ToStatus(err)
}

// PluginClient is the caller's side of skiff.base.v1.Plugin. Kind packages
// embed it in their client shim so it satisfies Plugin.
type PluginClient struct {
	c basepb.PluginClient
}

// NewPluginClient makes a PluginClient on a plugin's connection.
func NewPluginClient(conn grpc.ClientConnInterface) *PluginClient {
	return &PluginClient{c: basepb.NewPluginClient(conn)}
}

// Info implements Plugin.
func (c *PluginClient) Info(ctx context.Context) (Info, error) {
	resp, err := c.c.GetInfo(ctx, &basepb.GetInfoRequest{})
	if err != nil {
		return Info{}, FromStatus(err)
	}
	info := Info{Kind: Kind(resp.Kind), Name: resp.Name, Version: resp.Version, APIVersion: int(resp.ApiVersion)}
	for _, sp := range resp.Settings {
		info.Settings = append(info.Settings, SettingSpec{Name: sp.Name, Description: sp.Description, Required: sp.Required, Default: sp.Default})
	}
	return info, nil
}

// Configure implements Plugin.
func (c *PluginClient) Configure(ctx context.Context, cfg Config) error {
	_, err := c.c.Configure(ctx, &basepb.ConfigureRequest{NodeName: cfg.NodeName, DataDir: cfg.DataDir, Settings: cfg.Settings})
	return FromStatus(err)
}
