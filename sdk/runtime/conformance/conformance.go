// Package conformance is the suite every skiff runtime plugin runs. It drives
// the plugin through the real gRPC path (go-plugin's TestPluginGRPCConn and
// the SDK's shims), so what it tests is what the core will see.
//
// A plugin's test calls Run with a factory and a busybox image archive:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) runtime.Runtime { return myruntime.New() }, conformance.Options{
//			ImageArchive: archive, ImageRef: "skiff.test/busybox:1",
//			Settings:     map[string]string{"address": socket},
//		})
//	}
//
// The suite needs root-like powers as far as the runtime does, and to make
// network namespaces as a network plugin would (for sandboxes with a
// NetNSPath). It makes sandboxes and containers labelled with a per-run ID
// and removes them again, also when a check fails. Port-forward tests reach
// the loopback of the test's host and of the sandboxes only.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Options configures a run of the suite.
type Options struct {
	// ImageArchive is a tar (OCI layout or docker-archive) holding ImageRef:
	// a busybox image whose Cmd is ["sh"], without an entrypoint and without
	// a USER (it runs as root), with at least sh, echo, cat, sleep, seq, pwd,
	// hostname and touch on its PATH, and /bin/busybox itself, which must
	// have the applets chown, httpd, id, ip, mount, nc (with -e), readlink,
	// stty and tail.
	ImageArchive string
	// ImageRef is the image's normalized reference, as ImportImages and
	// ListImages report it (e.g. "skiff.test/busybox:1").
	ImageRef string
	// TempDir holds the suite's log files and mount sources. Default:
	// t.TempDir().
	TempDir string
	// DataDir is handed to Configure. Default: a directory in TempDir.
	DataDir string
	// Settings are handed to Configure.
	Settings map[string]string
	// Pull, when set, is an image the runtime can pull; PullImage is tested
	// with it. Without it PullImage is tested only for failure.
	Pull *PullCase
	// Timeout bounds each wait for a container to reach a state. Default:
	// 30s.
	Timeout time.Duration
}

// PullCase is an image that can be pulled in the test environment, such as
// one served by a registry on the loopback.
type PullCase struct {
	// Ref is the image's normalized reference.
	Ref string
	// PlainHTTPRegistries is passed as PullOptions.PlainHTTPRegistries.
	PlainHTTPRegistries []string
}

// Labels every sandbox and container of the suite carries.
const (
	LabelRun  = "conformance.skiff.dev/run"
	LabelTest = "conformance.skiff.dev/test"
)

// Run runs the suite. newRuntime returns a runtime that has not been
// configured yet: the suite configures it with opts.Settings and
// opts.DataDir. It is called once.
func Run(t *testing.T, newRuntime func(t *testing.T) runtime.Runtime, opts Options) {
	if opts.ImageArchive == "" || opts.ImageRef == "" {
		t.Fatal("conformance: Options.ImageArchive and Options.ImageRef are required")
	}
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(opts.TempDir, "data")
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	s := &suite{opts: opts, run: randomHex(6)}
	s.rt = connect(t, newRuntime(t))

	// Setup runs outside subtests, so that -run can pick any of them.
	s.configure(t)
	s.importImage(t)

	t.Run("Info", s.testInfo)
	t.Run("Configure", s.testConfigure)
	t.Run("ImportImages", s.testImportImages)
	t.Run("ImageStatusNotFound", s.testImageStatusNotFound)
	t.Run("ImportImagesInvalidArchive", s.testImportInvalidArchive)
	t.Run("PullImage", s.testPullImage)
	t.Run("Sandbox", s.testSandbox)
	t.Run("RunToCompletion", s.testRunToCompletion)
	t.Run("CommandAndArgs", s.testCommandAndArgs)
	t.Run("Logs", s.testLogs)
	t.Run("ListContainersByLabels", s.testListContainers)
	t.Run("StopContainer", s.testStopContainer)
	t.Run("Exec", s.testExec)
	t.Run("Mounts", s.testMounts)
	t.Run("Hostname", s.testHostname)
	t.Run("SharedNamespaces", s.testSharedNamespaces)
	t.Run("PortForward", s.testPortForward)
	t.Run("Security", s.testSecurity)
	t.Run("RemoveContainer", s.testRemoveContainer)
	t.Run("StopPodSandbox", s.testStopPodSandbox)
	t.Run("RemovePodSandboxRemovesContainers", s.testRemovePodSandbox)
	t.Run("MissingImage", s.testMissingImage)
	t.Run("UnknownContainer", s.testUnknownContainer)
}

// connect serves impl over go-plugin's in-process gRPC connection and
// returns the host's side of it.
func connect(t *testing.T, impl runtime.Runtime) runtime.Runtime {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindRuntime): &runtime.GRPCPlugin{Impl: impl},
	})
	// Closing the client stops the server too.
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatalf("conformance: dispense the runtime plugin: %v", err)
	}
	rt, ok := raw.(runtime.Runtime)
	if !ok {
		t.Fatalf("conformance: the plugin dispensed %T, not a runtime.Runtime", raw)
	}
	return rt
}

type suite struct {
	opts Options
	rt   runtime.Runtime
	run  string // labels and names this run's objects
	seq  atomic.Int64
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ctx is a context for one test, bounded so a hung plugin fails the test.
func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// cleanupCtx is for t.Cleanup work, which runs after the test's ctx ended.
func (s *suite) cleanupCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*s.opts.Timeout)
}

// name makes a name unique within the run.
func (s *suite) name(prefix string) string {
	return fmt.Sprintf("%s-%s-%d", prefix, s.run, s.seq.Add(1))
}

// labels are the labels of the current test's objects, plus extra.
func (s *suite) labels(t *testing.T, extra map[string]string) map[string]string {
	l := map[string]string{LabelRun: s.run, LabelTest: testLabel(t)}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// testLabel is the test's name as a label value (no slashes).
func testLabel(t *testing.T) string {
	b := []byte(t.Name())
	for i, c := range b {
		if c == '/' {
			b[i] = '.'
		}
	}
	if len(b) > 63 {
		b = b[len(b)-63:]
	}
	return string(b)
}
