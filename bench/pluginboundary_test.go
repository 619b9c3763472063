package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/controllers"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/core/store"
	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// BenchmarkPluginBoundary is the cost of the plugin boundary: the same
// no-op call (a scheduler's Schedule with no pods) made SKIFF_BENCH_CALLS
// times (default 20000), one after the other, three ways:
//
//   - in process: a method call on the binpack scheduler (the baseline);
//   - gRPC, in process: through the SDK's shims and go-plugin's gRPC over
//     an in-memory connection (plugin.TestPluginGRPCConn), which isolates
//     protobuf and gRPC from the process boundary;
//   - plugin process: the skiff-scheduler-binpack binary launched by the
//     core's plugin host, as skiffd runs it (go-plugin handshake, AutoMTLS,
//     a Unix socket).
//
// It prints p50, p99 and mean per call, and the ratio to the in-process
// call.
func BenchmarkPluginBoundary(b *testing.B) {
	bin := binDir(b)
	calls := envInt(b, "SKIFF_BENCH_CALLS", 20000)
	ctx := context.Background()

	inProcess := binpack.New()
	if err := inProcess.Configure(ctx, base.Config{DataDir: b.TempDir()}); err != nil {
		b.Fatal(err)
	}

	// go-plugin's test connection logs at debug level to hclog's default
	// output; keep the table readable.
	defaultOutput := hclog.DefaultOutput
	hclog.DefaultOutput = io.Discard
	b.Cleanup(func() { hclog.DefaultOutput = defaultOutput })
	grpcClient, _ := plugin.TestPluginGRPCConn(b, false, map[string]plugin.Plugin{
		string(base.KindScheduler): &scheduler.GRPCPlugin{Impl: binpack.New()},
	})
	b.Cleanup(func() { grpcClient.Close() })
	raw, err := grpcClient.Dispense(string(base.KindScheduler))
	if err != nil {
		b.Fatal(err)
	}
	overGRPC := raw.(scheduler.Scheduler)

	host := pluginhost.New("", b.TempDir())
	err = host.Start(ctx, []pluginhost.Spec{{Kind: base.KindScheduler, Path: filepath.Join(bin, "skiff-scheduler-binpack"),
		Versions: scheduler.ClientVersions(), DataDir: b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(host.Stop)
	impl, err := host.Get(base.KindScheduler)
	if err != nil {
		b.Fatal(err)
	}
	process := impl.(scheduler.Scheduler)

	type row struct {
		name string
		lat  []time.Duration
	}
	var rows []row
	for _, p := range []struct {
		name string
		s    scheduler.Scheduler
	}{{"in process (baseline)", inProcess}, {"gRPC, in process", overGRPC}, {"plugin process (gRPC)", process}} {
		lat, err := noopCalls(ctx, p.s, calls)
		if err != nil {
			b.Fatalf("%s: %v", p.name, err)
		}
		rows = append(rows, row{p.name, lat})
	}
	base50, base99 := percentile(rows[0].lat, 50), percentile(rows[0].lat, 99)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nplugin boundary: Schedule(no pods), %d sequential calls each\n", calls)
	fmt.Fprintln(w, "path\tp50\tp99\tmean\tp50 ratio\tp99 ratio")
	for _, r := range rows {
		p50, p99 := percentile(r.lat, 50), percentile(r.lat, 99)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, us(p50), us(p99), us(mean(r.lat)), times(p50, base50), times(p99, base99))
	}
	w.Flush()
	b.ReportMetric(float64(percentile(rows[2].lat, 50).Nanoseconds())/1e3, "plugin-p50-µs")
	b.ReportMetric(float64(percentile(rows[2].lat, 99).Nanoseconds())/1e3, "plugin-p99-µs")
	b.ReportMetric(float64(base50.Nanoseconds())/1e3, "inproc-p50-µs")
}

// noopCalls warms up, then times calls Schedule(nil) calls one by one.
func noopCalls(ctx context.Context, s scheduler.Scheduler, calls int) ([]time.Duration, error) {
	for range min(calls/10, 1000) {
		if _, err := s.Schedule(ctx, nil); err != nil {
			return nil, err
		}
	}
	lat := make([]time.Duration, calls)
	for i := range lat {
		start := time.Now()
		if _, err := s.Schedule(ctx, nil); err != nil {
			return nil, err
		}
		lat[i] = time.Since(start)
	}
	return lat, nil
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(max(len(d), 1))
}

func us(d time.Duration) string {
	if d < time.Microsecond {
		return fmt.Sprintf("%dns", d.Nanoseconds())
	}
	return fmt.Sprintf("%.1fµs", float64(d.Nanoseconds())/1e3)
}

func times(d, base time.Duration) string {
	if base <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fx", float64(d)/float64(base))
}

// BenchmarkSchedulingThroughput is pods bound per second by the core's
// scheduling controller (core/controllers.Scheduling, as skiffd runs it:
// plugin calls, then one binding write and one Scheduled event per pod,
// through the API server into a real embedded etcd) for 1,000 and 5,000
// simulated nodes, with SKIFF_BENCH_SCHED_PODS pending pods (default
// 2000). Each node count gets a fresh etcd and API server, and three
// figures:
//
//   - raw etcd: two puts per pod (the bind and the event), pod-sized values,
//     16 in flight like the controller's binds: the ceiling;
//   - in-process scheduler: binpack called directly (the baseline for the
//     plugin boundary);
//   - scheduler plugin: skiff-scheduler-binpack over gRPC, as skiffd runs it.
//
// Throughput is pods / (last bind seen - first bind seen) by a watch; the
// time from the controller's start to the first bind (its initial list of
// nodes and pods and the plugin's Update) is printed beside it.
func BenchmarkSchedulingThroughput(b *testing.B) {
	bin := binDir(b)
	pods := envInt(b, "SKIFF_BENCH_SCHED_PODS", 2000)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nscheduling throughput: %d pending pods, binds and events written to etcd through the API server\n", pods)
	fmt.Fprintln(w, "nodes\tpath\tpods/s\tfirst bind after\ttotal")
	for _, nodes := range []int{1000, 5000} {
		env := startTestAPI(b)
		start := time.Now()
		if err := createNodes(env.admin, nodes); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d nodes created in %v", nodes, time.Since(start).Round(time.Millisecond))

		rawRate, err := rawEtcdPuts(env.etcd, 2*pods)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(w, "%d\traw etcd (2 puts per pod, ceiling)\t%.0f\t-\t-\n", nodes, rawRate/2)

		inProcess := binpack.New()
		host := pluginhost.New("", b.TempDir())
		err = host.Start(context.Background(), []pluginhost.Spec{{Kind: base.KindScheduler, Path: filepath.Join(bin, "skiff-scheduler-binpack"),
			Versions: scheduler.ClientVersions(), DataDir: b.TempDir()}})
		if err != nil {
			b.Fatal(err)
		}
		variants := []struct {
			name string
			get  func() (scheduler.Scheduler, error)
		}{
			{"in-process scheduler (baseline)", func() (scheduler.Scheduler, error) { return inProcess, nil }},
			{"scheduler plugin (gRPC)", func() (scheduler.Scheduler, error) {
				impl, err := host.Get(base.KindScheduler)
				if err != nil {
					return nil, err
				}
				return impl.(scheduler.Scheduler), nil
			}},
		}
		// Take turns going first: the first run on a fresh etcd is slower.
		if nodes == 5000 {
			variants[0], variants[1] = variants[1], variants[0]
		}
		for _, v := range variants {
			r, err := scheduleAll(env.admin, v.get, fmt.Sprintf("n%d-%s", nodes, strings.Fields(v.name)[0]), pods)
			if err != nil {
				b.Fatalf("%d nodes, %s: %v", nodes, v.name, err)
			}
			fmt.Fprintf(w, "%d\t%s\t%.0f\t%v\t%v\n", nodes, v.name, r.rate, r.firstBind.Round(time.Millisecond), r.total.Round(time.Millisecond))
			if strings.HasPrefix(v.name, "scheduler plugin") {
				b.ReportMetric(r.rate, fmt.Sprintf("pods/s-%dnodes", nodes))
			}
		}
		host.Stop()
		env.stop()
	}
	w.Flush()
}

// testAPI is an embedded etcd and an API server for one benchmark (what
// core/internal/testapi gives the core's own tests).
type testAPI struct {
	etcd  *embedetcd.Etcd
	admin *client.Client
	stop  func()
}

func startTestAPI(b *testing.B) *testAPI {
	b.Helper()
	dir := b.TempDir()
	e, err := embedetcd.Start(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		b.Fatal(err)
	}
	serving, err := ca.IssueServer("skiff-apiserver", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		b.Fatal(err)
	}
	toAgents, err := ca.IssueClient("skiff-apiserver", []string{pki.GroupAdmins})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{Store: store.New(e.Client), CA: ca, ServingCert: serving, AgentClientCert: toAgents})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	kp, err := ca.IssueClient("admin", []string{pki.GroupAdmins})
	if err != nil {
		b.Fatal(err)
	}
	r, err := clientconfig.New("bench", lis.Addr().String(), ca.CertPEM, kp.CertPEM, kp.KeyPEM).Current("")
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(r)
	if err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	t := &testAPI{etcd: e, admin: c, stop: func() {
		once.Do(func() {
			c.Close()
			srv.Stop()
			e.Close()
		})
	}}
	b.Cleanup(t.stop)
	return t
}

// createNodes makes n Ready nodes with room for 110 pods each.
func createNodes(c *client.Client, n int) error {
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			// Create decodes the stored node back into the object: every
			// node has maps of its own.
			alloc := corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("128Gi"), corev1.ResourcePods: resource.MustParse("110"),
			}
			node := &corev1.Node{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sim-%05d", i), Labels: map[string]string{"kubernetes.io/hostname": fmt.Sprintf("sim-%05d", i)}},
				Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc.DeepCopy(),
					Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}},
			}
			return c.Create(ctx, api.Nodes, "", node)
		})
	}
	return g.Wait()
}

// rawEtcdPuts writes n pod-sized values straight to etcd, 16 at a time,
// and returns puts per second.
func rawEtcdPuts(e *embedetcd.Etcd, n int) (float64, error) {
	value, err := json.Marshal(benchSchedPod("raw-etcd-value", "bench"))
	if err != nil {
		return 0, err
	}
	value = append(value, make([]byte, 300)...) // binding adds a condition and a node name
	var next atomic.Int64
	g, ctx := errgroup.WithContext(context.Background())
	start := time.Now()
	for range 16 {
		g.Go(func() error {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return nil
				}
				if _, err := e.Client.Put(ctx, fmt.Sprintf("/bench/raw/%d", i), string(value)); err != nil {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func benchSchedPod(name, ns string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "skiff.bench/busybox:1.0",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}}},
	}
}

type schedResult struct {
	rate      float64       // pods per second between the first and last bind
	firstBind time.Duration // controller start to first bind
	total     time.Duration // controller start to last bind
}

// scheduleAll creates n pending pods named <prefix>-<i>, then runs a
// scheduling controller on sched until a watch has seen all of them bound.
func scheduleAll(c *client.Client, sched func() (scheduler.Scheduler, error), prefix string, n int) (schedResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			return c.Create(gctx, api.Pods, "default", benchSchedPod(fmt.Sprintf("%s-%05d", prefix, i), "default"))
		})
	}
	if err := g.Wait(); err != nil {
		return schedResult{}, fmt.Errorf("create pods: %w", err)
	}
	_, rev, err := c.ListRaw(ctx, api.Pods, "default", client.ListOptions{})
	if err != nil {
		return schedResult{}, err
	}
	evs, errc, err := c.Watch(ctx, api.Pods, "default", client.ListOptions{}, rev)
	if err != nil {
		return schedResult{}, err
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &controllers.Scheduling{
		Client:    c,
		Scheduler: sched,
		Recorder:  events.NewRecorder(c, "default-scheduler", ""),
		Log:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	start := time.Now()
	go s.Run(cctx)
	bound := map[string]bool{}
	var first, last time.Time
	for len(bound) < n {
		select {
		case ev, ok := <-evs:
			if !ok {
				return schedResult{}, fmt.Errorf("watch ended after %d of %d binds: %v", len(bound), n, <-errc)
			}
			var p struct {
				Metadata struct{ Name string }     `json:"metadata"`
				Spec     struct{ NodeName string } `json:"spec"`
			}
			if json.Unmarshal(ev.Object, &p) != nil || p.Spec.NodeName == "" || !strings.HasPrefix(p.Metadata.Name, prefix+"-") || bound[p.Metadata.Name] {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			last = now
			bound[p.Metadata.Name] = true
		case <-ctx.Done():
			return schedResult{}, fmt.Errorf("%d of %d pods bound before the time limit", len(bound), n)
		}
	}
	r := schedResult{firstBind: first.Sub(start), total: last.Sub(start)}
	if span := last.Sub(first).Seconds(); span > 0 {
		r.rate = float64(n-1) / span
	}
	return r, nil
}
