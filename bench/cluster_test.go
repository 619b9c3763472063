package bench

// BenchmarkCluster measures, in one run:
//   - create: `skiffctl cluster create` of a control plane and three workers
//     (cluster.Create, the code behind it) until every node is Ready,
//     beside a single `skiffd dev` cold start to node Ready on the same
//     containerd;
//   - pod-to-pod TCP across the VXLAN overlay (a pod on worker to a pod on
//     worker2), beside the same traffic between the two node namespaces
//     directly (node IP to node IP over the cluster bridge): throughput
//     (one stream, 64 KiB writes for SKIFF_BENCH_NET_SECONDS, default 2)
//     and latency (1-byte request/response round trips, 2000 per round,
//     p50/p99), two rounds per side taking turns. Both sides run the same Go code, its sockets opened inside
//     the namespaces (the pods' through their container's /proc/PID/ns/net),
//     so the difference is the overlay's (veth, bridge, VXLAN encapsulation,
//     the smaller MTU).

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/cluster"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

const benchClusterConfig = `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
- role: worker
- role: worker
- role: worker
`

func BenchmarkCluster(b *testing.B) {
	bin := binDir(b)
	testenv.RequireRoot(b)
	socket := testenv.Containerd(b)
	secs := envInt(b, "SKIFF_BENCH_NET_SECONDS", 2)
	tmp := b.TempDir()
	archive, err := testimage.BusyboxArchive(tmp, benchImage)
	if err != nil {
		b.Fatalf("build bench image: %v", err)
	}

	// Baseline: one `skiffd dev`, stopped once measured.
	dev, cold := startSkiffd(b, bin, socket)
	dev.stop()

	cfg, err := cluster.ParseConfig([]byte(benchClusterConfig))
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("bench%d", os.Getpid()%10000)
	root := filepath.Join(tmp, "clusters")
	b.Cleanup(func() {
		if err := cluster.Delete(context.Background(), root, name, nil); err != nil {
			b.Logf("delete bench cluster: %v", err)
		}
	})
	ctx := context.Background()
	start := time.Now()
	st, err := cluster.Create(ctx, cluster.Options{
		Name: name, Config: cfg, Root: root, Skiffd: filepath.Join(bin, "skiffd"), PluginDir: bin,
		ContainerdSocket: socket, UserConfig: filepath.Join(tmp, "skiffconfig"),
	})
	create := time.Since(start)
	if err != nil {
		b.Fatalf("cluster create: %v", err)
	}
	c, err := st.AdminClient()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := cluster.LoadImages(ctx, c, archive); err != nil {
		b.Fatal(err)
	}

	w1, w2 := st.Nodes[1], st.Nodes[2]
	server := netBenchPod(b, c, "net-server", w1.Name)
	clientPod := netBenchPod(b, c, "net-client", w2.Name)
	serverNS := podNetNS(b, socket, w1.RuntimeNamespace, string(server.UID))
	clientNS := podNetNS(b, socket, w2.RuntimeNamespace, string(clientPod.UID))

	// Two rounds each, taking turns so that drifting machine load hits
	// both alike; the better throughput and the pooled latencies count.
	var overlay, direct tcpResult
	for round := range 2 {
		o := measureTCP(b, serverNS, clientNS, net.JoinHostPort(server.Status.PodIP, strconv.Itoa(5201+2*round)), time.Duration(secs)*time.Second)
		d := measureTCP(b, "/run/netns/"+w1.NetNS, "/run/netns/"+w2.NetNS, net.JoinHostPort(w1.IP, strconv.Itoa(5202+2*round)), time.Duration(secs)*time.Second)
		overlay, direct = overlay.merge(o), direct.merge(d)
	}
	overlay.finish()
	direct.finish()

	b.Logf(`
cluster (1 control plane + 3 workers, one machine)
  create until all Ready     %8s   (target < 15s, goal 5s)
  skiffd dev cold start      %8s   baseline, same run
  ratio                      %8.1fx

TCP between two workers      overlay pod→pod   node→node (baseline)   ratio
  throughput (1 stream)      %8.2f Gbit/s   %8.2f Gbit/s        %5.2f
  latency p50 (1B rr)        %10s     %10s          %5.2f
  latency p99                %10s     %10s          %5.2f
  pod MTU / node MTU         %10d     %10d`,
		secsStr(create), secsStr(cold.ready), ratio(create, cold.ready),
		overlay.gbps, direct.gbps, overlay.gbps/direct.gbps,
		overlay.p50, direct.p50, ratio(overlay.p50, direct.p50),
		overlay.p99, direct.p99, ratio(overlay.p99, direct.p99),
		linkMTU(b, serverNS, "eth0"), linkMTU(b, "/run/netns/"+w1.NetNS, "eth0"))
	b.ReportMetric(create.Seconds(), "cluster-create-s")
	b.ReportMetric(cold.ready.Seconds(), "dev-start-s")
	b.ReportMetric(overlay.gbps, "overlay-Gbit/s")
	b.ReportMetric(direct.gbps, "node-Gbit/s")
	b.ReportMetric(float64(overlay.p50)/float64(time.Microsecond), "overlay-rtt-p50-us")
	b.ReportMetric(float64(direct.p50)/float64(time.Microsecond), "node-rtt-p50-us")
}

func secsStr(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// netBenchPod runs a sleeping pod on node and returns it once Running.
func netBenchPod(b *testing.B, c *client.Client, name, node string) *corev1.Pod {
	b.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{benchLabel: "net"}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: new(int64),
			Containers:                    []corev1.Container{{Name: "c", Image: benchImage, Command: []string{"sleep", "3600"}}},
		},
	}
	if err := c.Create(ctx, api.Pods, podNamespace, p); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.Get(ctx, api.Pods, podNamespace, name, p); err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return p
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("pod %s on %s not Running within 60s: %+v", name, node, p.Status)
	return nil
}

// podNetNS is the network namespace of the pod's container.
func podNetNS(b *testing.B, socket, ns, uid string) string {
	b.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	ctrs, err := c.Containers(ctx, fmt.Sprintf(`labels."skiff.dev/pod-uid"==%s`, uid))
	if err != nil {
		b.Fatal(err)
	}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		if pid := task.Pid(); pid > 0 {
			return "/proc/" + strconv.Itoa(int(pid)) + "/ns/net"
		}
	}
	b.Fatalf("no running container of pod %s in containerd namespace %s", uid, ns)
	return ""
}

// inNetNS runs fn on a thread in the network namespace at path; sockets
// fn opens stay in that namespace.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

type tcpResult struct {
	gbps     float64
	lat      []time.Duration
	p50, p99 time.Duration
}

func (r tcpResult) merge(o tcpResult) tcpResult {
	return tcpResult{gbps: max(r.gbps, o.gbps), lat: append(r.lat, o.lat...)}
}

func (r *tcpResult) finish() { r.p50, r.p99 = percentile(r.lat, 50), percentile(r.lat, 99) }

// measureTCP listens on addr in serverNS and connects from clientNS: one
// stream of 64 KiB writes for d, then 2000 one-byte round trips.
func measureTCP(b *testing.B, serverNS, clientNS, addr string, d time.Duration) tcpResult {
	b.Helper()
	var lis net.Listener
	if err := inNetNS(serverNS, func() (err error) { lis, err = net.Listen("tcp", addr); return err }); err != nil {
		b.Fatalf("listen on %s: %v", addr, err)
	}
	defer lis.Close()
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var mode [1]byte
				if _, err := io.ReadFull(conn, mode[:]); err != nil {
					return
				}
				if mode[0] == 's' { // stream: discard
					_, _ = io.Copy(io.Discard, conn)
					return
				}
				buf := make([]byte, 1) // echo
				for {
					if _, err := io.ReadFull(conn, buf); err != nil {
						return
					}
					if _, err := conn.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	dial := func(mode byte) net.Conn {
		var conn net.Conn
		if err := inNetNS(clientNS, func() (err error) { conn, err = net.DialTimeout("tcp", addr, 5*time.Second); return err }); err != nil {
			b.Fatalf("dial %s: %v", addr, err)
		}
		if _, err := conn.Write([]byte{mode}); err != nil {
			b.Fatal(err)
		}
		return conn
	}
	var r tcpResult
	conn := dial('s')
	buf := make([]byte, 64<<10)
	var sent int64
	start := time.Now()
	for time.Since(start) < d {
		n, err := conn.Write(buf)
		sent += int64(n)
		if err != nil {
			b.Fatalf("stream to %s: %v", addr, err)
		}
	}
	r.gbps = float64(sent) * 8 / time.Since(start).Seconds() / 1e9
	conn.Close()

	conn = dial('e')
	defer conn.Close()
	one := []byte{1}
	lat := make([]time.Duration, 0, 2000)
	for range 2000 {
		t := time.Now()
		if _, err := conn.Write(one); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t))
	}
	r.lat = lat
	return r
}

func linkMTU(b *testing.B, ns, link string) int {
	var mtu int
	_ = inNetNS(ns, func() error {
		i, err := net.InterfaceByName(link)
		if err == nil {
			mtu = i.MTU
		}
		return err
	})
	return mtu
}
