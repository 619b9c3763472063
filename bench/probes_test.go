package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
)

// BenchmarkProbes runs SKIFF_BENCH_PROBES (default 500) containers' worth of
// 1-second tcpSocket probes through the real skiff-probes binary for
// SKIFF_BENCH_PROBE_SECONDS (default 20) and measures how late each probe
// is (the gap between two connections to the same target, minus the
// period) and the CPU the plugin process used. The baseline, measured in the
// same run, is the same probing done by a plain in-process loop: one ticker
// and one dial per target. The targets are TCP listeners on loopback, one
// per "container"; no container is started, so only the prober is measured.
func BenchmarkProbes(b *testing.B) {
	n := envInt(b, "SKIFF_BENCH_PROBES", 500)
	dur := time.Duration(envInt(b, "SKIFF_BENCH_PROBE_SECONDS", 20)) * time.Second
	bin := filepath.Join(binDir(b), "skiff-probes")

	base1 := newTargets(b, n)
	baseCPU := selfCPU()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, t := range base1.ports {
		wg.Go(func() { tickAndDial(t, stop) })
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	baselineCPU := selfCPU() - baseCPU
	base1.close()

	targets := newTargets(b, n)
	prober, pid := launchProber(b, bin)
	ctx := context.Background()
	for i, port := range targets.ports {
		err := prober.AddContainer(ctx, probes.Container{
			PodUID: "bench", ContainerName: "c", ContainerID: "c" + strconv.Itoa(i), PodIP: "127.0.0.1", StartedAt: time.Now(),
			Readiness: &probes.Probe{TCPSocket: &probes.TCPSocket{Port: port}, Period: time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3},
		})
		if err != nil {
			b.Fatalf("add probe %d: %v", i, err)
		}
	}
	// Let the first round settle, then measure a clean window.
	time.Sleep(2 * time.Second)
	targets.reset()
	cpu0 := procCPU(pid)
	time.Sleep(dur)
	pluginCPU := procCPU(pid) - cpu0
	mem, _ := readProcMem("skiff-probes", pid)

	bl, sl := base1.lateness(), targets.lateness()
	fmt.Printf(`
probes (N=%d, period 1s, %v)   p50 late   p99 late   CPU (cores)
in-process loop (baseline)      %-10s %-10s %.3f
skiff-probes plugin             %-10s %-10s %.3f   RSS %.0fMB
ratio p99 lateness              %.2fx
`, n, dur, ms(percentile(bl, 50)), ms(percentile(bl, 99)), baselineCPU.Seconds()/dur.Seconds(),
		ms(percentile(sl, 50)), ms(percentile(sl, 99)), pluginCPU.Seconds()/dur.Seconds(), mib(mem.rss),
		ratio(percentile(sl, 99), max(percentile(bl, 99), time.Millisecond)))
	b.ReportMetric(msf(percentile(sl, 99)), "probe-late-p99-ms")
	b.ReportMetric(msf(percentile(bl, 99)), "baseline-late-p99-ms")
	b.ReportMetric(pluginCPU.Seconds()/dur.Seconds(), "plugin-cpu-cores")
	b.ReportMetric(baselineCPU.Seconds()/dur.Seconds(), "baseline-cpu-cores")
	b.ReportMetric(0, "ns/op")
	targets.close()
}

// targets are loopback listeners that note when each connection arrives.
type targets struct {
	ports []int
	lis   []net.Listener
	mu    sync.Mutex
	seen  [][]time.Time
}

func newTargets(b *testing.B, n int) *targets {
	t := &targets{seen: make([][]time.Time, n)}
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatalf("listener %d: %v", i, err)
		}
		t.lis = append(t.lis, l)
		t.ports = append(t.ports, l.Addr().(*net.TCPAddr).Port)
		go t.accept(i, l)
	}
	return t
}

func (t *targets) accept(i int, l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		t.seen[i] = append(t.seen[i], time.Now())
		t.mu.Unlock()
		c.Close()
	}
}

func (t *targets) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.seen {
		t.seen[i] = nil
	}
}

// lateness is, for every pair of consecutive probes of a target, how much
// later than one period the second came.
func (t *targets) lateness() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []time.Duration
	for _, times := range t.seen {
		for j := 1; j < len(times); j++ {
			out = append(out, max(0, times[j].Sub(times[j-1])-time.Second))
		}
	}
	return out
}

func (t *targets) close() {
	for _, l := range t.lis {
		l.Close()
	}
}

func tickAndDial(port int, stop <-chan struct{}) {
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tk.C:
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
				c.Close()
			}
		}
	}
}

// launchProber starts the probes plugin binary as the agent does.
func launchProber(b *testing.B, bin string) (probes.Prober, int) {
	b.Helper()
	cfg := base.ClientConfig(base.KindProbes, exec.Command(bin), probes.ClientVersions())
	cfg.Logger = hclog.NewNullLogger()
	client := plugin.NewClient(cfg)
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	raw, err := rpc.Dispense(string(base.KindProbes))
	if err != nil {
		b.Fatal(err)
	}
	p := raw.(probes.Prober)
	if err := p.Configure(context.Background(), base.Config{DataDir: b.TempDir()}); err != nil {
		b.Fatal(err)
	}
	results, err := p.Results(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for range results { // drain: the agent always reads them
		}
	}()
	return p, client.ReattachConfig().Pid
}

// procCPU is a process's user+system CPU time.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ") ".
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
