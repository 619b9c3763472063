package containerdruntime

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestBinaryFindsItsLogDriver builds the plugin binary and checks what
// only the real executable can show: with the log_driver setting left to
// its default, the plugin finds the log driver where `make build` puts it,
// beside itself, and refuses to start without it. (The suite against a
// plugin process is plugins/runtime-containerd's TestBinary.)
func TestBinaryFindsItsLogDriver(t *testing.T) {
	plugintest.SkipIfShort(t, "builds the plugin binary; skipped with -short")
	env := newTestEnv(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "skiff-runtime-containerd")
	if err := goBuild(bin, "github.com/skiffhq/skiff/plugins/runtime-containerd"); err != nil {
		t.Fatal(err)
	}
	driver := filepath.Join(dir, LogDriverName)
	if err := goBuild(driver, "github.com/skiffhq/skiff/plugins/runtime-containerd/logdriver"); err != nil {
		t.Fatal(err)
	}
	cfg := env.config("skiff-binary")
	delete(cfg.Settings, SettingLogDriver)
	configure := func() error {
		client := plugin.NewClient(base.ClientConfig(base.KindRuntime, exec.Command(bin), runtime.ClientVersions()))
		defer client.Kill()
		rpc, err := client.Client()
		if err != nil {
			t.Fatalf("launch %s: %v", bin, err)
		}
		raw, err := rpc.Dispense(string(base.KindRuntime))
		if err != nil {
			t.Fatalf("dispense from %s: %v", bin, err)
		}
		return raw.(runtime.Runtime).Configure(t.Context(), cfg)
	}
	if err := configure(); err != nil {
		t.Fatalf("Configure with the log driver beside the binary: %v", err)
	}
	if err := os.Remove(driver); err != nil {
		t.Fatal(err)
	}
	if err := configure(); !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), driver+" does not exist") {
		t.Errorf("Configure without the log driver beside the binary: %v, want base.ErrInvalid naming %s", err, driver)
	}
}
