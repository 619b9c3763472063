package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/examples/runtime-rawexec/rawexec"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// TestMain lets the test binary act as the plugin (and as its shim) when a
// test launches it, so the tests run what main serves, as skiffd would.
func TestMain(m *testing.M) {
	rawexec.RunShimIfInvoked()
	plugintest.Main(m, main)
}

func launch(t *testing.T, dataDir string) runtime.Runtime {
	t.Helper()
	rt := plugintest.Launch(t, base.KindRuntime, runtime.ClientVersions()).(runtime.Runtime)
	if err := rt.Configure(context.Background(), base.Config{NodeName: "n1", DataDir: dataDir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return rt
}

// TestBinaryInfo checks the plugin process's Info. rawexec does not use
// the runtime conformance.RunBinary: the suite's isolation checks do not
// apply to it, and rawexec/conformance_test.go runs the rest of the suite
// (picked with -run and -skip) against the implementation, through gRPC.
func TestBinaryInfo(t *testing.T) {
	plugintest.CheckInfo(t, launch(t, t.TempDir()), base.KindRuntime, "rawexec", runtime.APIVersion)
}

// Containers are the shims', not the plugin's: a new plugin process (after
// a crash, or `skiffctl plugin reload runtime`) finds them running, with
// the same PID, and can stop them and read their exit code.
func TestContainersOutliveThePluginProcess(t *testing.T) {
	dataDir := t.TempDir()
	ctx := context.Background()
	var id string
	var pid int
	t.Run("FirstPluginProcess", func(t *testing.T) {
		rt := launch(t, dataDir)
		if _, err := rt.PullImage(ctx, rawexec.HostImage, runtime.PullOptions{}); err != nil {
			t.Fatal(err)
		}
		sb, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-1", Namespace: "default", Name: "sleeper"})
		if err != nil {
			t.Fatal(err)
		}
		id, err = rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "sleep", Image: rawexec.HostImage,
			Command: []string{"sleep", "600"}, LogPath: filepath.Join(dataDir, "logs", "sleep.log")})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		st, err := rt.ContainerStatus(ctx, id)
		if err != nil || st.State != runtime.StateRunning || st.PID == 0 {
			t.Fatalf("status %+v, %v", st, err)
		}
		pid = st.PID
	}) // the first plugin process is killed here
	if id == "" {
		t.FailNow()
	}
	rt := launch(t, dataDir)
	st, err := rt.ContainerStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateRunning || st.PID != pid {
		t.Fatalf("after the plugin process was replaced: %+v, want running with pid %d", st, pid)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("container process %d: %v", pid, err)
	}
	start := time.Now()
	if err := rt.StopContainer(ctx, id, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err = rt.ContainerStatus(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 128+int(syscall.SIGTERM) || time.Since(start) > 4*time.Second {
		t.Errorf("after StopContainer: %+v (took %v), want exited by SIGTERM (143) at once", st, time.Since(start))
	}
	sbs, err := rt.ListSandboxes(ctx, nil)
	if err != nil || len(sbs) != 1 {
		t.Fatalf("sandboxes %+v, %v", sbs, err)
	}
	if err := rt.RemovePodSandbox(ctx, sbs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "sandboxes", sbs[0].ID)); !os.IsNotExist(err) {
		t.Errorf("sandbox directory after removal: %v", err)
	}
}
