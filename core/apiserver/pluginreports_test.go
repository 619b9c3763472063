package apiserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
)

// A node's plugins are listed as it last reported them; once that report is
// older than the maximum age (its agent stopped), they are unknown, as
// Kubernetes marks the conditions of a node that stopped posting status.
// A report stored before reports were timed (a bare list) is unknown too.
func TestStalePluginReportsAreUnknown(t *testing.T) {
	s := testapi.StartWith(t, testapi.Options{Setup: func(srv *apiserver.Server) { srv.SetPluginReportMaxAge(time.Second) }})
	ctx := context.Background()
	node := s.ClientAs(t, "system:node:n1", pki.GroupNodes)
	report := []*apipb.PluginStatus{{Node: "n1", Kind: "runtime", Name: "runtime-containerd", Pid: 7, Healthy: true}}
	if _, err := node.API.ReportPlugins(ctx, &apipb.ReportPluginsRequest{Node: "n1", Plugins: report}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Etcd.Client.Put(ctx, "/skiff/registry/pluginstatuses/old", `[{"node":"old","kind":"probes","healthy":true}]`); err != nil {
		t.Fatal(err)
	}
	list := func() map[string]*apipb.PluginStatus {
		t.Helper()
		resp, err := s.Admin.API.Plugins(ctx, &apipb.PluginsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*apipb.PluginStatus{}
		for _, p := range resp.Plugins {
			out[p.Node] = p
		}
		return out
	}
	got := list()
	if p := got["n1"]; p == nil || p.Unknown || !p.Healthy || p.Pid != 7 {
		t.Errorf("a fresh report: %+v, want healthy, not unknown", p)
	}
	if p := got["old"]; p == nil || !p.Unknown {
		t.Errorf("an untimed report: %+v, want unknown", p)
	}
	time.Sleep(1500 * time.Millisecond)
	p := list()["n1"]
	if p == nil || !p.Unknown || !strings.Contains(p.Message, `no report from node "n1" for`) {
		t.Errorf("a report older than the maximum age: %+v, want unknown, saying so", p)
	}
}
