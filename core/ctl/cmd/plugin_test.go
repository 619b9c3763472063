package cmd

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/internal/fakeserver"
)

// pluginServer adds canned PluginLogs and PluginReload answers to the fake
// server.
type pluginServer struct {
	*fakeserver.Server
	logs     map[string]string // "node/kind" -> log
	reloads  []*apipb.PluginReloadRequest
	logsSeen []*apipb.PluginLogsRequest
}

func (s *pluginServer) PluginLogs(req *apipb.PluginLogsRequest, stream apipb.Skiff_PluginLogsServer) error {
	s.logsSeen = append(s.logsSeen, req)
	text, ok := s.logs[req.Node+"/"+req.Kind]
	if !ok {
		return status.Errorf(codes.NotFound, "no %s plugin on %q", req.Kind, req.Node)
	}
	if req.TailLines >= 0 {
		lines := strings.SplitAfter(text, "\n")
		lines = lines[:len(lines)-1]
		if int(req.TailLines) < len(lines) {
			lines = lines[len(lines)-int(req.TailLines):]
		}
		text = strings.Join(lines, "")
	}
	return stream.Send(&apipb.Chunk{Data: []byte(text)})
}

func (s *pluginServer) PluginReload(_ context.Context, req *apipb.PluginReloadRequest) (*apipb.PluginReloadResponse, error) {
	s.reloads = append(s.reloads, req)
	if req.Kind == "network" {
		return nil, status.Error(codes.FailedPrecondition, `node "worker-1": reload: network plugin: binary /opt/skiff-net-overlay: no such file or directory`)
	}
	return &apipb.PluginReloadResponse{OldPid: 4242, Plugin: &apipb.PluginStatus{Node: req.Node, Kind: req.Kind, Name: "runtime-containerd", Version: "0.2.0", Pid: 5151, Healthy: true}}, nil
}

func newPluginEnv(t *testing.T) (*env, *pluginServer) {
	t.Helper()
	inner := fakeserver.New()
	inner.Now = func() time.Time { return testNow }
	ps := &pluginServer{Server: inner, logs: map[string]string{
		"worker-1/runtime": "one\ntwo\nthree\n",
		"/scheduler":       "scheduler line\n",
	}}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apipb.RegisterSkiffServer(gs, ps)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); gs.Stop() })
	return &env{t: t, srv: inner, c: client.NewFromConn(conn, "default")}, ps
}

func TestPluginLogs(t *testing.T) {
	e, ps := newPluginEnv(t)
	e.run("plugin", "logs", "runtime", "--node", "worker-1").expectOut(t, "one\ntwo\nthree\n")
	e.run("plugin", "logs", "runtime", "--node", "worker-1", "--tail", "1").expectOut(t, "three\n")
	e.run("plugin", "logs", "scheduler").expectOut(t, "scheduler line\n")
	e.run("plugin", "logs", "runtime", "-f", "--node", "worker-1").expectOut(t, "one\ntwo\nthree\n")
	if last := ps.logsSeen[len(ps.logsSeen)-1]; !last.Follow || last.Kind != "runtime" || last.Node != "worker-1" {
		t.Errorf("request = %+v, want follow of worker-1's runtime", last)
	}
	r := e.run("plugin", "logs", "volumes", "--node", "worker-1")
	if r.err == nil || !strings.Contains(r.printed, `no volumes plugin on "worker-1"`) {
		t.Errorf("missing plugin: err %v, printed %q", r.err, r.printed)
	}
	if r := e.run("plugin", "logs"); r.err == nil || !strings.Contains(r.printed, "KIND is one of") {
		t.Errorf("no kind: err %v, printed %q", r.err, r.printed)
	}
	if r := e.run("plugin", "logs", "runtime", "--tail", "-2"); r.err == nil {
		t.Error("--tail -2 accepted")
	}
}

func TestPluginReload(t *testing.T) {
	e, ps := newPluginEnv(t)
	e.run("plugin", "reload", "runtime", "--node", "worker-1").
		expectOut(t, "runtime plugin runtime-containerd 0.2.0 reloaded on worker-1: pid 5151 (was 4242)\n")
	if len(ps.reloads) != 1 || ps.reloads[0].Kind != "runtime" || ps.reloads[0].Node != "worker-1" {
		t.Errorf("reload requests: %+v", ps.reloads)
	}
	r := e.run("plugin", "reload", "network")
	if r.err == nil || !strings.Contains(r.printed, "no such file or directory") {
		t.Errorf("failed reload: err %v, printed %q", r.err, r.printed)
	}
}

func TestPluginListShowsSinceAndMessage(t *testing.T) {
	e := newEnv(t)
	e.srv.PluginList = []*apipb.PluginStatus{
		{Node: "worker-1", Kind: "network", Name: "net-overlay", Version: "v0.1.0", ApiVersion: 1, Pid: 4250, Restarts: 7, Healthy: false,
			SinceUnix: testNow.Add(-40 * time.Second).Unix(), Path: "/opt/skiff-net-overlay", Message: "crash loop: 5 restarts within 1m0s, restarting with back-off; last: plugin process exited (exit status 2)"},
	}
	r := e.run("plugin", "ls", "-o", "wide")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{"SINCE", "MESSAGE", "40s", "crash loop: 5 restarts", "false"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("plugin ls -o wide lacks %q:\n%s", want, r.out)
		}
	}
}

// A plugin whose node stopped reporting is Unknown, as kubectl shows a
// silent node's conditions, with no SINCE.
func TestPluginListShowsUnknown(t *testing.T) {
	e := newEnv(t)
	e.srv.PluginList = []*apipb.PluginStatus{
		{Node: "worker-2", Kind: "runtime", Name: "runtime-containerd", ApiVersion: 1, Pid: 99, Healthy: true, Unknown: true,
			SinceUnix: testNow.Add(-time.Hour).Unix(), Message: `no report from node "worker-2" for 5m`},
	}
	r := e.run("plugin", "ls", "--no-headers")
	if r.err != nil {
		t.Fatal(r.err)
	}
	f := strings.Fields(r.out)
	if len(f) < 9 || f[7] != "Unknown" || f[8] != "<unknown>" {
		t.Errorf("plugin ls for a silent node: %q, want HEALTHY Unknown and SINCE <unknown>", r.out)
	}
}
