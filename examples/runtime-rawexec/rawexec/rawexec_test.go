package rawexec_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/examples/runtime-rawexec/rawexec"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// connect serves a new rawexec over go-plugin's gRPC test connection and
// configures it with a fresh data directory.
func connect(t *testing.T) runtime.Runtime {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindRuntime): &runtime.GRPCPlugin{Impl: rawexec.New()},
	})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatal(err)
	}
	rt := raw.(runtime.Runtime)
	if err := rt.Configure(context.Background(), base.Config{NodeName: "n1", DataDir: filepath.Join(openTempDir(t), "data")}); err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestOnlyTheHostImageIsPulled(t *testing.T) {
	rt := connect(t)
	ctx := context.Background()
	img, err := rt.PullImage(ctx, rawexec.HostImage, runtime.PullOptions{})
	if err != nil {
		t.Fatalf("PullImage(%s): %v", rawexec.HostImage, err)
	}
	if img.Ref != "docker.io/rawexec/host:latest" || !strings.HasPrefix(img.ID, "sha256:") {
		t.Errorf("pulled %+v", img)
	}
	if _, err := rt.ImageStatus(ctx, "rawexec/host:latest"); err != nil {
		t.Errorf("ImageStatus after pull: %v", err)
	}
	_, err = rt.PullImage(ctx, "nginx", runtime.PullOptions{})
	if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), rawexec.HostImage) {
		t.Errorf("PullImage(nginx) = %v, want ErrImagePull naming %s", err, rawexec.HostImage)
	}
}

func TestHostCommandRunsInTheSandboxDirectory(t *testing.T) {
	rt := connect(t)
	ctx := context.Background()
	if _, err := rt.PullImage(ctx, rawexec.HostImage, runtime.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-1", Namespace: "default", Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.RemovePodSandbox(ctx, sb)
	logPath := filepath.Join(t.TempDir(), "logs", "c.log")
	// No command: the host image has none to give.
	_, err = rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "c", Image: rawexec.HostImage, LogPath: logPath})
	if !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), "no command") {
		t.Errorf("container without a command: %v", err)
	}
	// What needs isolation is refused, not ignored.
	_, err = rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "c", Image: rawexec.HostImage, LogPath: logPath,
		Command: []string{"true"}, Mounts: []runtime.Mount{{HostPath: "/tmp", ContainerPath: "/data"}}})
	if !errors.Is(err, base.ErrUnsupported) || !strings.Contains(err.Error(), "volume mounts") {
		t.Errorf("container with a mount: %v", err)
	}
	// The files the core mounts into every container (cluster DNS) are
	// left out: the process uses the host's.
	id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "c", Image: rawexec.HostImage, LogPath: logPath,
		Command: []string{"sh", "-c", `pwd; echo "$GREETING"; touch made-here`}, Env: []string{"GREETING=hello"}, WorkingDir: "work",
		Mounts: []runtime.Mount{{HostPath: filepath.Join(t.TempDir(), "resolv.conf"), ContainerPath: "/etc/resolv.conf", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, rt, id)
	if st.ExitCode != 0 || st.Reason != "Completed" {
		t.Fatalf("status %+v", st)
	}
	r, err := rt.ContainerLogs(ctx, id, runtime.LogOptions{TailLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(r)
	r.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "/sandboxes/"+sb+"/root/work") || lines[1] != "hello" {
		t.Errorf("output %q: want the sandbox's work directory and the greeting", out.String())
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(lines[0]), "made-here")); err != nil {
		t.Errorf("file made in the working directory: %v", err)
	}
}

func waitExited(t *testing.T, rt runtime.Runtime, id string) runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := rt.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == runtime.StateExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s", id, st.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
