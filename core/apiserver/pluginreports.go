package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

// pluginStatusResource is where nodes' plugin reports are kept; it is not a
// Kubernetes resource, so it is not served by the object verbs.
const pluginStatusResource = "pluginstatuses"

// DefaultPluginReportMaxAge is how old a node's last plugin report may be
// before `plugin ls` marks its plugins unknown: agents (and the servers of
// an HA control plane) report on every change and at least every minute,
// so three missed refreshes mean the reporter is not running.
const DefaultPluginReportMaxAge = 3 * time.Minute

// pluginReport is a node's last report as stored, with when the server got
// it (the server's clock).
type pluginReport struct {
	ReportedAt time.Time             `json:"reportedAt"`
	Plugins    []*apipb.PluginStatus `json:"plugins"`
}

// SetPluginReportMaxAge changes DefaultPluginReportMaxAge (tests). Call it
// before Serve.
func (s *Server) SetPluginReportMaxAge(d time.Duration) { s.pluginReportMaxAge = d }

// ReportPlugins stores a node's plugin statuses, replacing its last report.
func (s *Server) ReportPlugins(ctx context.Context, req *apipb.ReportPluginsRequest) (*apipb.ReportPluginsResponse, error) {
	id, err := identityFrom(ctx)
	if err != nil {
		return nil, err
	}
	if !id.InGroup(pki.GroupAdmins) && id.User != "system:node:"+req.Node {
		return nil, api.ToGRPC(forbidden(fmt.Sprintf("user %q may not report plugins of node %q", id.User, req.Node)))
	}
	data, err := json.Marshal(pluginReport{ReportedAt: time.Now().UTC(), Plugins: req.Plugins})
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	k := store.Key(pluginStatusResource, "", req.Node)
	if err := s.putUnconditionally(ctx, k, data); err != nil {
		return nil, api.ToGRPC(err)
	}
	return &apipb.ReportPluginsResponse{}, nil
}

// putUnconditionally writes data at key whatever is there, trying again
// only when another write came between its read and its own (etcd being
// away is an error, not a reason to spin).
func (s *Server) putUnconditionally(ctx context.Context, key string, data []byte) error {
	for {
		kv, err := s.objects.store.Get(ctx, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
			_, err = s.objects.store.Create(ctx, key, data)
		case err == nil:
			_, err = s.objects.store.Update(ctx, key, kv.Revision, data)
		}
		if !errors.Is(err, store.ErrAlreadyExists) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			return err
		}
	}
}

// Plugins lists every node's last plugin report, and the server's own
// plugins as they are now. The plugins of a node whose last report is
// older than the maximum age are marked unknown, as Kubernetes marks the
// conditions of a node that stopped posting its status.
func (s *Server) Plugins(ctx context.Context, _ *apipb.PluginsRequest) (*apipb.PluginsResponse, error) {
	kvs, _, err := s.objects.store.List(ctx, store.ListPrefix(pluginStatusResource, ""))
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	resp := &apipb.PluginsResponse{}
	s.local.mu.Lock()
	local, localNode := s.local.host, s.local.node
	s.local.mu.Unlock()
	if local != nil {
		for _, st := range local.Status() {
			resp.Plugins = append(resp.Plugins, st.Proto(localNode))
		}
	}
	maxAge := s.pluginReportMaxAge
	if maxAge <= 0 {
		maxAge = DefaultPluginReportMaxAge
	}
	now := time.Now()
	for _, kv := range kvs {
		r, err := decodePluginReport(kv.Value)
		if err != nil {
			return nil, api.ToGRPC(fmt.Errorf("decode plugin report %s: %w", kv.Key, err))
		}
		age := now.Sub(r.ReportedAt)
		for _, p := range r.Plugins {
			if local != nil && p.Node == localNode {
				continue // read live above
			}
			if age > maxAge {
				p.Unknown = true
				p.Message = fmt.Sprintf("no report from node %q for %s (is its agent running?); it last said: %s",
					p.Node, duration.HumanDuration(age), orNone(p.Message))
			}
			resp.Plugins = append(resp.Plugins, p)
		}
	}
	sort.SliceStable(resp.Plugins, func(i, j int) bool {
		a, b := resp.Plugins[i], resp.Plugins[j]
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Kind < b.Kind
	})
	return resp, nil
}

// decodePluginReport reads a stored report; one stored by a server from
// before reports were timed (a bare list) has no time, so it is unknown.
func decodePluginReport(data []byte) (pluginReport, error) {
	var r pluginReport
	if len(data) > 0 && data[0] == '[' {
		return r, json.Unmarshal(data, &r.Plugins)
	}
	return r, json.Unmarshal(data, &r)
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
