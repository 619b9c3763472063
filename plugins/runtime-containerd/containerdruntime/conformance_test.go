package containerdruntime

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
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
// and the binary also serving as the containers' log driver.
func TestConformanceOfTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary; skipped with -short")
	}
	env := newTestEnv(t)
	host := env.registry(t)
	bin := filepath.Join(t.TempDir(), "runtime-containerd")
	build := exec.Command("go", "build", "-o", bin, "github.com/skiffhq/skiff/plugins/runtime-containerd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the plugin: %v\n%s", err, out)
	}
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
		Settings:     env.config("skiff-binary").Settings,
		Pull:         &conformance.PullCase{Ref: host + "/busybox:1", PlainHTTPRegistries: []string{host}},
	})
}
