package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
)

// fakeLocal stands in for the server's own plugin host.
type fakeLocal struct {
	mu       sync.Mutex
	reloaded []base.Kind
	pid      int
}

func (f *fakeLocal) Status() []pluginhost.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []pluginhost.Status{{Kind: base.KindScheduler, Name: "binpack", PID: f.pid, Healthy: true}}
}

func (f *fakeLocal) Kinds() []base.Kind { return []base.Kind{base.KindScheduler} }

func (f *fakeLocal) Logs(_ context.Context, kind base.Kind, opts pluginhost.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(fmt.Sprintf("%s log, tail %d\n", kind, opts.TailLines))), nil
}

func (f *fakeLocal) Reload(_ context.Context, kind base.Kind) (pluginhost.Status, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloaded = append(f.reloaded, kind)
	f.pid = 200
	return pluginhost.Status{Kind: kind, Name: "binpack", PID: 200, Healthy: true, Since: time.Now()}, 100, nil
}

// startWithLocal runs an API server whose own plugins are local, and
// returns an admin and a node client.
func startWithLocal(t *testing.T, local apiserver.LocalPlugins) (admin, node *client.Client) {
	t.Helper()
	s := testapi.StartWith(t, testapi.Options{Setup: func(srv *apiserver.Server) { srv.SetLocalPlugins(local, "control-plane") }})
	return s.Admin, s.ClientAs(t, "system:node:n1", pki.GroupNodes)
}

func readPluginLogs(t *testing.T, c *client.Client, req *apipb.PluginLogsRequest) (string, error) {
	t.Helper()
	stream, err := c.API.PluginLogs(context.Background(), req)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return out.String(), nil
		}
		if err != nil {
			return out.String(), err
		}
		out.Write(chunk.Data)
	}
}

func TestPluginLogsAndReloadOfServerPlugins(t *testing.T) {
	local := &fakeLocal{pid: 100}
	admin, node := startWithLocal(t, local)
	ctx := context.Background()
	// `plugin ls` shows the server's plugins as they are, not as a report
	// once said: a stale report for the server's node is ignored.
	stale := []*apipb.PluginStatus{{Node: "control-plane", Kind: "scheduler", Name: "binpack", Pid: 42}}
	if _, err := admin.API.ReportPlugins(ctx, &apipb.ReportPluginsRequest{Node: "control-plane", Plugins: stale}); err != nil {
		t.Fatal(err)
	}
	schedulerPID := func() []int64 {
		t.Helper()
		resp, err := admin.API.Plugins(ctx, &apipb.PluginsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var pids []int64
		for _, p := range resp.Plugins {
			if p.Kind == "scheduler" {
				pids = append(pids, p.Pid)
			}
		}
		return pids
	}
	if got := schedulerPID(); !slices.Equal(got, []int64{100}) {
		t.Errorf("scheduler PIDs in plugin ls: %v, want [100]", got)
	}

	out, err := readPluginLogs(t, admin, &apipb.PluginLogsRequest{Kind: "scheduler", TailLines: 5})
	if err != nil || out != "scheduler log, tail 5\n" {
		t.Errorf("scheduler logs = %q, %v", out, err)
	}
	resp, err := admin.API.PluginReload(ctx, &apipb.PluginReloadRequest{Kind: "scheduler"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.OldPid != 100 || resp.Plugin.Pid != 200 || resp.Plugin.Node != "control-plane" || len(local.reloaded) != 1 {
		t.Errorf("reload = %+v (reloaded %v)", resp, local.reloaded)
	}
	if got := schedulerPID(); !slices.Equal(got, []int64{200}) {
		t.Errorf("scheduler PIDs in plugin ls right after the reload: %v, want [200]", got)
	}

	for _, tc := range []struct {
		req  *apipb.PluginLogsRequest
		want string
	}{
		{&apipb.PluginLogsRequest{Kind: "bogus"}, `unknown plugin kind "bogus": one of network, probes, runtime, scheduler, volumes`},
		{&apipb.PluginLogsRequest{Kind: "scheduler", Node: "n1"}, `the scheduler plugin runs on the server (control-plane), not on node "n1"`},
		{&apipb.PluginLogsRequest{Kind: "runtime"}, "no node has registered"},
		{&apipb.PluginLogsRequest{Kind: "runtime", Node: "n1"}, `"n1" not found`},
	} {
		if _, err := readPluginLogs(t, admin, tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PluginLogs(%+v) = %v, want an error saying %q", tc.req, err, tc.want)
		}
	}

	// A node without a reachable agent: the error says so, no hang.
	n := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if err := admin.Create(ctx, api.Nodes, "", n); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.API.PluginReload(ctx, &apipb.PluginReloadRequest{Kind: "runtime"}); err == nil || !strings.Contains(err.Error(), "has not registered an agent address") {
		t.Errorf("reload on a node without an agent: %v", err)
	}

	// Only admins may read plugin logs or reload plugins.
	if _, err := readPluginLogs(t, node, &apipb.PluginLogsRequest{Kind: "scheduler"}); err == nil || !strings.Contains(err.Error(), "may not call PluginLogs") {
		t.Errorf("PluginLogs as a node: %v", err)
	}
	if _, err := node.API.PluginReload(ctx, &apipb.PluginReloadRequest{Kind: "scheduler"}); err == nil || !strings.Contains(err.Error(), "may not call PluginReload") {
		t.Errorf("PluginReload as a node: %v", err)
	}
}
