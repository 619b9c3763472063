package containerdruntime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func podCycle(t *testing.T, r runtime.Runtime, i int, logDir string) {
	ctx := testCtx(t)
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: fmt.Sprint("uid-leak-", i), Namespace: "default", Name: fmt.Sprint("leak-", i), Labels: map[string]string{"pod": fmt.Sprint(i)}})
	if err != nil {
		t.Error(err)
		return
	}
	main := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "main", Image: testRef, Labels: map[string]string{"pod": fmt.Sprint(i)}, LogPath: filepath.Join(logDir, fmt.Sprint(i, "-main.log")),
		Command: []string{"sh", "-c", `trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done`},
	})
	short := createAndStart(t, r, sb, runtime.ContainerConfig{
		Name: "short", Image: testRef, Labels: map[string]string{"pod": fmt.Sprint(i)}, LogPath: filepath.Join(logDir, fmt.Sprint(i, "-short.log")),
		Command: []string{"sh", "-c", `echo bye`},
	})
	waitFor(t, r, main, running)
	waitFor(t, r, short, exited)
	r.ListContainers(ctx, map[string]string{"pod": fmt.Sprint(i)})
	r.ListSandboxes(ctx, map[string]string{"pod": fmt.Sprint(i)})
	readLogs(t, r, short, runtime.LogOptions{Follow: true, TailLines: -1})
	if rc, err := r.ContainerLogs(ctx, main, runtime.LogOptions{Follow: true, TailLines: -1}); err == nil {
		b := make([]byte, 8)
		io.ReadFull(rc, b)
		rc.Close()
	}
	var out strings.Builder
	if _, err := r.Exec(ctx, main, runtime.ExecOptions{Cmd: []string{"echo", "hi"}, Stdout: &out}); err != nil {
		t.Error(err)
	}
	if err := r.StopContainer(ctx, main, 5*time.Second); err != nil {
		t.Error(err)
	}
	if err := r.RemovePodSandbox(ctx, sb); err != nil {
		t.Error(err)
	}
}

func TestLeakExplore(t *testing.T) {
	goruntime.MemProfileRate = 1
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-leak")
	env.importImage(t, r)
	logDir := t.TempDir()
	var rt runtime.Runtime = r
	if os.Getenv("LEAK_GRPC") != "" {
		rt = connectGRPC(t, r)
	}
	n := 0
	batch := func(k int) {
		var wg sync.WaitGroup
		for range k {
			n++
			wg.Add(1)
			go func(i int) { defer wg.Done(); podCycle(t, rt, i, logDir) }(n)
		}
		wg.Wait()
	}
	measure := func(label string) {
		time.Sleep(500 * time.Millisecond)
		goruntime.GC()
		goruntime.GC()
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		r.mu.Lock()
		c := r.conn
		r.mu.Unlock()
		c.mu.Lock()
		w := len(c.watching)
		c.mu.Unlock()
		r.locks.mu.Lock()
		l := len(r.locks.locks)
		r.locks.mu.Unlock()
		t.Logf("%s: pods %d: HeapAlloc %.2f MB HeapInuse %.2f MB HeapSys %.2f MB HeapReleased %.2f MB Sys %.2f MB goroutines %d watching %d locks %d",
			label, n, mb(ms.HeapAlloc), mb(ms.HeapInuse), mb(ms.HeapSys), mb(ms.HeapReleased), mb(ms.Sys), goruntime.NumGoroutine(), w, l)
		if dir := os.Getenv("LEAK_PROF"); dir != "" {
			f, _ := os.Create(filepath.Join(dir, label+".heap"))
			pprof.WriteHeapProfile(f)
			f.Close()
			g, _ := os.Create(filepath.Join(dir, label+".goroutine"))
			pprof.Lookup("goroutine").WriteTo(g, 1)
			g.Close()
		}
	}
	batch(5)
	measure("warm")
	for range 2 {
		batch(10)
	}
	measure("p25")
	for range 3 {
		batch(10)
	}
	measure("p55")
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func connectGRPC(t *testing.T, impl runtime.Runtime) runtime.Runtime {
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
