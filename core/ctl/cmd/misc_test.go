package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/skiffhq/skiff/core/version"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func TestPrintError(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x")
	tests := []struct {
		err  error
		want string
		code int
	}{
		{nil, "", 0},
		{errors.New("boom"), "error: boom\n", 1},
		{notFound, "Error from server (NotFound): pods \"x\" not found\n", 1},
		{fmt.Errorf("pod %q: %w", "x", notFound), "Error from server (NotFound): pod \"x\": pods \"x\" not found\n", 1},
		{errors.Join(notFound, errors.New("second")), "Error from server (NotFound): pods \"x\" not found\nerror: second\n", 1},
		{apierrors.NewUnauthorized("bad token"), "error: You must be logged in to the server (bad token)\n", 1},
		{&ExitError{Code: 3}, "", 3},
		{&ExitError{Code: 2, Err: errors.New("failed")}, "error: failed\n", 2},
		{&UsageError{Cmd: "skiffctl get", Msg: "bad"}, "error: bad\nSee 'skiffctl get -h' for help and examples\n", 1},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		code := PrintError(&buf, tt.err)
		if buf.String() != tt.want || code != tt.code {
			t.Errorf("PrintError(%v) = %q, %d; want %q, %d", tt.err, buf.String(), code, tt.want, tt.code)
		}
	}
}

func TestImageLoad(t *testing.T) {
	e := newEnv(t)
	e.srv.Images = &apipb.ImagesResponse{
		Images: []*apipb.Image{{Node: "n1", Ref: "docker.io/library/nginx:latest"}, {Node: "n2", Ref: "docker.io/library/nginx:latest"}},
		Errors: []string{"n3: no space left on device"},
	}
	archive := bytes.Repeat([]byte("x"), imageChunkSize+10)
	f := filepath.Join(t.TempDir(), "nginx.tar")
	if err := os.WriteFile(f, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("image", "load", f, "--node", "n1")
	want := "Loaded image \"docker.io/library/nginx:latest\" on node \"n1\"\nLoaded image \"docker.io/library/nginx:latest\" on node \"n2\"\n"
	if r.out != want {
		t.Errorf("stdout %q", r.out)
	}
	if r.printed != "error: load "+f+": n3: no space left on device\n" || r.code != 1 {
		t.Errorf("printed %q", r.printed)
	}
	if e.srv.LoadedNode != "n1" || !bytes.Equal(e.srv.LoadedData, archive) {
		t.Errorf("server got node %q and %d bytes", e.srv.LoadedNode, len(e.srv.LoadedData))
	}
	if r := e.run("image", "load"); !strings.Contains(r.printed, "at least one image archive") {
		t.Errorf("printed %q", r.printed)
	}
}

func TestImageList(t *testing.T) {
	e := newEnv(t)
	e.srv.Images = &apipb.ImagesResponse{Images: []*apipb.Image{
		{Node: "worker-1", Ref: "docker.io/library/redis:7", Id: "sha256:0123456789abcdef0123", Size: 41_234_567},
		{Node: "control-plane", Ref: "docker.io/library/nginx:latest", Id: "sha256:fedcba9876543210fedc", Size: 72_800_000},
	}}
	e.run("image", "ls").expectOut(t, `NODE            IMAGE                            ID              SIZE
control-plane   docker.io/library/nginx:latest   fedcba9876543   72.8MB
worker-1        docker.io/library/redis:7        0123456789abc   41.2MB
`)
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1234: "1.23kB", 5_000_000: "5MB", 1_500_000_000: "1.5GB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPluginList(t *testing.T) {
	e := newEnv(t)
	since := testNow.Add(-90 * time.Minute).Unix()
	e.srv.PluginList = []*apipb.PluginStatus{
		{Node: "worker-1", Kind: "runtime", Name: "runtime-containerd", Version: "v0.1.0", ApiVersion: 1, Pid: 4242, Healthy: true, SinceUnix: since},
		{Node: "worker-1", Kind: "network", Name: "net-overlay", Version: "v0.1.0", ApiVersion: 1, Pid: 4250, Restarts: 2, Healthy: false, SinceUnix: since, Message: "restarting"},
		{Kind: "scheduler", Name: "scheduler-binpack", Version: "v0.1.0", ApiVersion: 1, Pid: 100, Healthy: true, SinceUnix: since},
	}
	e.run("plugin", "ls").expectOut(t, `NODE       KIND        NAME                 VERSION   API   PID    RESTARTS   HEALTHY   SINCE
<server>   scheduler   scheduler-binpack    v0.1.0    1     100    0          true      90m
worker-1   network     net-overlay          v0.1.0    1     4250   2          false     90m
worker-1   runtime     runtime-containerd   v0.1.0    1     4242   0          true      90m
`)
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	e.srv.VersionInfo = &apipb.VersionResponse{Version: "v0.1.0", GoVersion: "go1.26"}
	e.run("version").expectOut(t, "Client Version: "+version.Version+"\nServer Version: v0.1.0\n")
	e.run("version", "--client").expectOut(t, "Client Version: "+version.Version+"\n")
	r := e.run("version", "-o", "json")
	if !strings.Contains(r.out, `"serverVersion": {`) || !strings.Contains(r.out, `"gitVersion": "v0.1.0"`) {
		t.Errorf("json version:\n%s", r.out)
	}
}

func TestImageReference(t *testing.T) {
	valid := []string{"nginx", "nginx:1.27", "library/nginx", "docker.io/library/nginx:latest",
		"localhost:5000/team/app:v1", "registry.local/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	for _, v := range valid {
		if !imageReference.MatchString(v) {
			t.Errorf("%q rejected", v)
		}
	}
	for _, v := range []string{"", "NGINX", "nginx:", "nginx:tag with space", "-nginx"} {
		if imageReference.MatchString(v) {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestParseTargets(t *testing.T) {
	ts, err := parseTargets([]string{"pod/a", "po/b", "node/n"})
	if err != nil || len(ts) != 2 || fmt.Sprint(ts[0].names) != "[a b]" || ts[1].res.Name != "nodes" {
		t.Errorf("got %+v, %v", ts, err)
	}
	if _, err := parseTargets([]string{"pod/a", "b"}); err == nil {
		t.Error("mixed forms accepted")
	}
	ts, err = parseTargets([]string{"pods,no", "x"})
	if err != nil || len(ts) != 2 || ts[1].res.Name != "nodes" || ts[1].names[0] != "x" {
		t.Errorf("got %+v, %v", ts, err)
	}
}
