package containerdruntime

import (
	"fmt"
	"io"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// TestNothingRetainedAcrossPods runs pods through what the agent does with
// them (sandbox, a long-running and a short container, status and lists,
// logs read and followed, exec, stop, remove), through the gRPC shim the
// core uses, and checks that the plugin keeps nothing of them afterwards:
// no goroutine (task watchers, log followers), no entry in its maps, no
// heap to speak of.
func TestNothingRetainedAcrossPods(t *testing.T) {
	plugintest.SkipIfShort(t, "runs pods on containerd; skipped with -short")
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-retained")
	env.importImage(t, r)
	rt := connectGRPC(t, r)
	logDir := t.TempDir()

	type sample struct {
		heap       uint64
		goroutines int
	}
	measure := func() sample {
		// Let what the last pod started wind down (log followers poll
		// every logPollInterval).
		time.Sleep(5 * logPollInterval)
		goruntime.GC()
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		return sample{heap: ms.HeapAlloc, goroutines: goruntime.NumGoroutine()}
	}
	n := 0
	pods := func(k int) {
		for range k {
			n++
			podCycle(t, rt, n, logDir)
		}
	}
	pods(2)
	before := measure()
	pods(10)
	after := measure()
	t.Logf("after %d more pods: heap %.2f MB -> %.2f MB, goroutines %d -> %d", 10, mb(before.heap), mb(after.heap), before.goroutines, after.goroutines)

	if after.goroutines > before.goroutines+2 {
		t.Errorf("goroutines went from %d to %d over 10 pods that are gone", before.goroutines, after.goroutines)
	}
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	c.mu.Lock()
	watching := len(c.watching)
	c.mu.Unlock()
	r.locks.mu.Lock()
	locks := len(r.locks.locks)
	r.locks.mu.Unlock()
	if watching != 0 || locks != 0 {
		t.Errorf("with every pod gone the plugin still watches %d tasks and holds %d locks", watching, locks)
	}
	// Generous: the test itself keeps a few kB per pod (contexts until
	// cleanup), and the heap figures are noisy.
	if after.heap > before.heap+2<<20 {
		t.Errorf("the heap grew from %.2f MB to %.2f MB over 10 pods that are gone", mb(before.heap), mb(after.heap))
	}
}

// podCycle is one pod's life, as the agent lives it.
func podCycle(t *testing.T, r runtime.Runtime, i int, logDir string) {
	t.Helper()
	ctx := testCtx(t)
	labels := map[string]string{"pod": fmt.Sprint(i)}
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: fmt.Sprint("uid-retained-", i), Namespace: "default", Name: fmt.Sprint("retained-", i), Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	main := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "main", Image: testRef, Labels: labels, LogPath: filepath.Join(logDir, fmt.Sprint(i, "-main.log")),
		Command: []string{"sh", "-c", `trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done`},
	})
	short := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "short", Image: testRef, Labels: labels, LogPath: filepath.Join(logDir, fmt.Sprint(i, "-short.log")),
		Command: []string{"echo", "bye"},
	})
	waitFor(t, r, main, running)
	waitFor(t, r, short, exited)
	if cs, err := r.ListContainers(ctx, labels); err != nil || len(cs) != 2 {
		t.Fatalf("ListContainers(%v) = %d containers, %v; want 2", labels, len(cs), err)
	}
	if sbs, err := r.ListSandboxes(ctx, labels); err != nil || len(sbs) != 1 {
		t.Fatalf("ListSandboxes(%v) = %d sandboxes, %v; want 1", labels, len(sbs), err)
	}
	if got := readLogs(t, r, short, runtime.LogOptions{Follow: true, TailLines: -1}); got != "bye\n" {
		t.Errorf("logs of short: %q", got)
	}
	// Followed, then left by the reader while the container runs.
	rc, err := r.ContainerLogs(ctx, main, runtime.LogOptions{Follow: true, TailLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, len("started\n"))); err != nil {
		t.Errorf("following main's log: %v", err)
	}
	rc.Close()
	var out strings.Builder
	if code, err := r.Exec(ctx, main, runtime.ExecOptions{Cmd: []string{"echo", "hi"}, Stdout: &out}); err != nil || code != 0 || out.String() != "hi\n" {
		t.Errorf("exec: %d, %q, %v", code, out.String(), err)
	}
	if err := r.StopContainer(ctx, main, 5*time.Second); err != nil {
		t.Error(err)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
}

// connectGRPC serves impl over go-plugin's in-process gRPC connection, as
// the conformance suite does, and returns the core's side of it.
func connectGRPC(t *testing.T, impl runtime.Runtime) runtime.Runtime {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindRuntime): &runtime.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(runtime.Runtime)
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }
