package agent

import (
	"context"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/pluginhost"
)

// How often the agent looks at its plugins' statuses, and how old the last
// report may grow before it is sent again unchanged.
const (
	pluginReportCheck   = 2 * time.Second
	pluginReportRefresh = time.Minute
)

// PluginReporter sends the node's plugin statuses to the API server, where
// `skiffctl plugin ls` reads them: when they changed, and at least every
// pluginReportRefresh, so that a healthy node does not write to etcd every
// few seconds. Reports go one at a time and each is read from the host just
// before it is sent, so a report read before a reload can never land after
// the reload's own.
type PluginReporter struct {
	client *client.Client
	node   string
	host   *pluginhost.Host

	mu   sync.Mutex
	last []*apipb.PluginStatus
	sent time.Time
}

// NewPluginReporter reports the statuses of host's plugins as node's.
func NewPluginReporter(c *client.Client, node string, host *pluginhost.Host) *PluginReporter {
	return &PluginReporter{client: c, node: node, host: host}
}

// Run reports at once and then whenever a check finds a change, and at
// least every pluginReportRefresh, until ctx ends (the servers of an HA
// control plane; an agent reports from its heartbeat loop).
func (r *PluginReporter) Run(ctx context.Context) {
	t := time.NewTicker(pluginReportCheck)
	defer t.Stop()
	force := true
	for {
		_ = r.report(ctx, force)
		force = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report sends the statuses if they changed since the last report, if that
// is older than pluginReportRefresh, or if force.
func (r *PluginReporter) report(ctx context.Context, force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := pluginStatuses(r.node, r.host.Status())
	if !force && time.Since(r.sent) < pluginReportRefresh && samePluginStatuses(now, r.last) {
		return nil
	}
	if _, err := r.client.API.ReportPlugins(ctx, &apipb.ReportPluginsRequest{Node: r.node, Plugins: now}); err != nil {
		return err
	}
	r.last, r.sent = now, time.Now()
	return nil
}

func pluginStatuses(node string, sts []pluginhost.Status) []*apipb.PluginStatus {
	out := make([]*apipb.PluginStatus, 0, len(sts))
	for _, s := range sts {
		out = append(out, s.Proto(node))
	}
	return out
}

func samePluginStatuses(a, b []*apipb.PluginStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
