package containerdruntime

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/runtime/conformance"
)

// TestConformance runs the SDK's suite against this package on a real
// containerd.
func TestConformance(t *testing.T) {
	env := newTestEnv(t)
	host := env.registry(t)
	conformance.Run(t, func(t *testing.T) runtime.Runtime {
		r := New()
		t.Cleanup(func() { r.Close() })
		return r
	}, conformance.Options{
		ImageArchive: env.archive,
		ImageRef:     testRef,
		TempDir:      env.dir,
		Settings:     env.config("skiff-conformance").Settings,
		Pull:         &conformance.PullCase{Ref: host + "/busybox:1", PlainHTTPRegistries: []string{host}},
	})
}

// TestConformanceOfTheBinary builds the plugin binary and runs the suite
// against it as the core would launch it: go-plugin handshake, AutoMTLS,
// and the log driver found where `make build` puts it, beside the plugin
// (the log_driver setting is left to its default).
func TestConformanceOfTheBinary(t *testing.T) {
	plugintest.SkipIfShort(t, "builds the plugin binary; skipped with -short")
	env := newTestEnv(t)
	host := env.registry(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "skiff-runtime-containerd")
	if err := goBuild(bin, "github.com/skiffhq/skiff/plugins/runtime-containerd"); err != nil {
		t.Fatal(err)
	}
	if err := goBuild(filepath.Join(dir, LogDriverName), "github.com/skiffhq/skiff/plugins/runtime-containerd/logdriver"); err != nil {
		t.Fatal(err)
	}
	settings := env.config("skiff-binary").Settings
	delete(settings, SettingLogDriver)
	conformance.Run(t, func(t *testing.T) runtime.Runtime {
		client := plugin.NewClient(base.ClientConfig(base.KindRuntime, exec.Command(bin), runtime.ClientVersions()))
		t.Cleanup(client.Kill)
		rpc, err := client.Client()
		if err != nil {
			t.Fatalf("launch %s: %v", bin, err)
		}
		raw, err := rpc.Dispense(string(base.KindRuntime))
		if err != nil {
			t.Fatalf("dispense from %s: %v", bin, err)
		}
		return raw.(runtime.Runtime)
	}, conformance.Options{
		ImageArchive: env.archive,
		ImageRef:     testRef,
		TempDir:      env.dir,
		Settings:     settings,
		Pull:         &conformance.PullCase{Ref: host + "/busybox:1", PlainHTTPRegistries: []string{host}},
	})
}
