package apiserver

// `skiffctl plugin logs` and `skiffctl plugin reload` reach the plugin of a
// kind where it runs: the server's own plugin host for server kinds (the
// scheduler), the agent of a node for node kinds, relayed as Logs is. Only
// system:masters may call them (they are not in nodeMethods).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
)

// LocalPlugins is the plugin host of the server's own process.
type LocalPlugins interface {
	Kinds() []base.Kind
	Logs(ctx context.Context, kind base.Kind, opts pluginhost.LogOptions) (io.ReadCloser, error)
	Reload(ctx context.Context, kind base.Kind) (pluginhost.Status, int, error)
	Status() []pluginhost.Status
}

type localPlugins struct {
	mu   sync.Mutex
	host LocalPlugins
	node string
}

// SetLocalPlugins tells the server which plugins run in its own process
// (the scheduler), and the NODE `plugin ls` shows for them.
func (s *Server) SetLocalPlugins(host LocalPlugins, node string) {
	s.local.mu.Lock()
	defer s.local.mu.Unlock()
	s.local.host, s.local.node = host, node
}

// localFor returns the local host when it runs kind.
func (s *Server) localFor(kind base.Kind) (LocalPlugins, string) {
	s.local.mu.Lock()
	defer s.local.mu.Unlock()
	if s.local.host != nil && slices.Contains(s.local.host.Kinds(), kind) {
		return s.local.host, s.local.node
	}
	return nil, ""
}

func checkKind(kind string) (base.Kind, error) {
	for _, k := range base.Kinds {
		if string(k) == kind {
			return k, nil
		}
	}
	names := make([]string, len(base.Kinds))
	for i, k := range base.Kinds {
		names[i] = string(k)
	}
	sort.Strings(names)
	return "", status.Errorf(codes.InvalidArgument, "unknown plugin kind %q: one of %s", kind, strings.Join(names, ", "))
}

// pluginNode picks the node whose plugin a request means: the named one,
// or the only node there is.
func (s *Server) pluginNode(ctx context.Context, kind base.Kind, name string) (*corev1.Node, error) {
	if name != "" {
		n, err := s.node(ctx, name)
		if err != nil {
			return nil, api.ToGRPC(err)
		}
		return n, nil
	}
	nodes, err := s.readyNodes(ctx, "")
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	switch len(nodes) {
	case 0:
		return nil, status.Errorf(codes.NotFound, "no node has registered: no %s plugin to reach", kind)
	case 1:
		return nodes[0], nil
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	sort.Strings(names)
	return nil, status.Errorf(codes.InvalidArgument, "every node runs a %s plugin: name one with --node (%s)", kind, strings.Join(names, ", "))
}

// PluginLogs streams a plugin's log from where it runs.
func (s *Server) PluginLogs(req *apipb.PluginLogsRequest, stream apipb.Skiff_PluginLogsServer) error {
	ctx := stream.Context()
	kind, err := checkKind(req.Kind)
	if err != nil {
		return err
	}
	if local, node := s.localFor(kind); local != nil {
		if req.Node != "" && req.Node != node {
			return status.Errorf(codes.InvalidArgument, "the %s plugin runs on the server (%s), not on node %q", kind, node, req.Node)
		}
		r, err := local.Logs(ctx, kind, pluginhost.LogOptions{Follow: req.Follow, TailLines: req.TailLines})
		if err != nil {
			return pluginError(err)
		}
		defer r.Close()
		return sendChunks(ctx, r, stream.Send)
	}
	node, err := s.pluginNode(ctx, kind, req.Node)
	if err != nil {
		return err
	}
	agent, err := s.agents.client(node)
	if err != nil {
		return api.ToGRPC(err)
	}
	from, err := agent.PluginLogs(ctx, &apipb.PluginLogsRequest{Node: node.Name, Kind: req.Kind, Follow: req.Follow, TailLines: req.TailLines})
	if err != nil {
		return err
	}
	for {
		chunk, err := from.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(chunk); err != nil {
			return err
		}
	}
}

// PluginReload restarts a plugin from its binary where it runs.
func (s *Server) PluginReload(ctx context.Context, req *apipb.PluginReloadRequest) (*apipb.PluginReloadResponse, error) {
	kind, err := checkKind(req.Kind)
	if err != nil {
		return nil, err
	}
	if local, node := s.localFor(kind); local != nil {
		if req.Node != "" && req.Node != node {
			return nil, status.Errorf(codes.InvalidArgument, "the %s plugin runs on the server (%s), not on node %q", kind, node, req.Node)
		}
		st, old, err := local.Reload(ctx, kind)
		if err != nil {
			return nil, pluginError(err)
		}
		return &apipb.PluginReloadResponse{Plugin: st.Proto(node), OldPid: int64(old)}, nil
	}
	node, err := s.pluginNode(ctx, kind, req.Node)
	if err != nil {
		return nil, err
	}
	agent, err := s.agents.client(node)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	return agent.PluginReload(ctx, &apipb.PluginReloadRequest{Node: node.Name, Kind: req.Kind})
}

// pluginError maps a plugin host's error to a status.
func pluginError(err error) error {
	switch {
	case errors.Is(err, base.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, base.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.FailedPrecondition, err.Error())
}

// sendChunks copies r to a chunk stream until r ends or ctx does.
func sendChunks(ctx context.Context, r io.Reader, send func(*apipb.Chunk) error) error {
	buf := make([]byte, base.StreamChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := send(&apipb.Chunk{Data: append([]byte(nil), buf[:n]...)}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return status.Error(codes.Internal, fmt.Sprintf("plugin log: %v", err))
		}
	}
}
