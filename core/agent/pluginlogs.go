package agent

// The node's side of `skiffctl plugin logs` and `skiffctl plugin reload`:
// the API server relays them here for the node's plugins.

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
)

func (s *nodeServer) checkPluginNode(node string) error {
	if node != "" && node != s.a.cfg.NodeName {
		return status.Errorf(codes.InvalidArgument, "this is node %q, not %q", s.a.cfg.NodeName, node)
	}
	return nil
}

// PluginLogs streams the log of one of this node's plugins.
func (s *nodeServer) PluginLogs(req *apipb.PluginLogsRequest, stream apipb.NodeAgent_PluginLogsServer) error {
	if err := s.checkPluginNode(req.Node); err != nil {
		return err
	}
	ctx := stream.Context()
	r, err := s.a.cfg.Plugins.Logs(ctx, base.Kind(req.Kind), pluginhost.LogOptions{Follow: req.Follow, TailLines: req.TailLines})
	if err != nil {
		return pluginStatusError(s.a.cfg.NodeName, err)
	}
	defer r.Close()
	buf := make([]byte, base.StreamChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := stream.Send(&apipb.Chunk{Data: append([]byte(nil), buf[:n]...)}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.Internal, "node %q: plugin log: %v", s.a.cfg.NodeName, err)
		}
	}
}

// PluginReload restarts one of this node's plugins from its binary. Running
// containers are not touched: they belong to the runtime's shims, and the
// agent keeps no state in the plugin processes.
func (s *nodeServer) PluginReload(ctx context.Context, req *apipb.PluginReloadRequest) (*apipb.PluginReloadResponse, error) {
	if err := s.checkPluginNode(req.Node); err != nil {
		return nil, err
	}
	st, old, err := s.a.cfg.Plugins.Reload(ctx, base.Kind(req.Kind))
	if err != nil {
		return nil, pluginStatusError(s.a.cfg.NodeName, err)
	}
	s.a.log.Info("plugin reloaded", "kind", req.Kind, "oldPID", old, "pid", st.PID)
	s.a.reportPlugins(ctx, true)
	return &apipb.PluginReloadResponse{
		OldPid: int64(old),
		Plugin: &apipb.PluginStatus{
			Node: s.a.cfg.NodeName, Kind: string(st.Kind), Name: st.Name, Version: st.Version,
			ApiVersion: int32(st.APIVersion), Pid: int64(st.PID), Restarts: int32(st.Restarts),
			Healthy: st.Healthy, SinceUnix: st.Since.Unix(), Message: st.Message, Path: st.Path,
		},
	}, nil
}

func pluginStatusError(node string, err error) error {
	msg := fmt.Sprintf("node %q: %v", node, err)
	switch {
	case errors.Is(err, base.ErrNotFound):
		return status.Error(codes.NotFound, msg)
	case errors.Is(err, base.ErrUnavailable):
		return status.Error(codes.Unavailable, msg)
	}
	return status.Error(codes.FailedPrecondition, msg)
}
