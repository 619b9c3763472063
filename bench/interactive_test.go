package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// BenchmarkInteractive measures, in one run:
//   - exec round trip: `true` run in a pod through skiff (API server →
//     agent → runtime plugin → containerd) until its exit code is back,
//     beside the same exec made straight on containerd's task;
//   - port-forward throughput: a SKIFF_BENCH_BLOB_MB (default 64) MiB
//     download from an HTTP server inside the pod through skiff's
//     port-forward stream, beside the same download over a direct TCP
//     connection to the pod IP.
func BenchmarkInteractive(b *testing.B) {
	bin := binDir(b)
	execs := envInt(b, "SKIFF_BENCH_EXECS", 30)
	blobMB := envInt(b, "SKIFF_BENCH_BLOB_MB", 64)
	testenv.RequireRoot(b)
	socket := testenv.Containerd(b)
	archive, err := testimage.BusyboxArchive(b.TempDir(), benchImage)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := startSkiffd(b, bin, socket)
	s.ctl("image", "load", archive)
	w := watchPods(b, s.client)
	pod := benchPod("interactive")
	pod.Spec.Containers[0].Command = []string{"sh", "-c", fmt.Sprintf("head -c %dm /dev/zero > /tmp/blob && exec httpd -f -p 8080 -h /tmp", blobMB)}
	if _, err := w.startPod(pod); err != nil {
		b.Fatal(err)
	}
	var running corev1.Pod
	if err := s.client.Get(context.Background(), api.Pods, podNamespace, pod.Name, &running); err != nil {
		b.Fatal(err)
	}
	// Let the container write its blob before measuring.
	time.Sleep(3 * time.Second)

	task := podTask(b, socket)
	rawExec, skiffExec := make([]time.Duration, execs), make([]time.Duration, execs)
	for i := range execs {
		rawExec[i] = timeIt(b, func() error { return containerdExec(task, fmt.Sprintf("bench-%d", i)) })
		skiffExec[i] = timeIt(b, func() error { return skiffExecTrue(s, pod.Name) })
	}

	url := "GET /blob HTTP/1.0\r\n\r\n"
	want := int64(blobMB) << 20
	var directBytes, fwdBytes int64
	direct := timeIt(b, func() (err error) {
		directBytes, err = download(running.Status.PodIP+":8080", url)
		return err
	})
	forwarded := timeIt(b, func() (err error) {
		fwdBytes, err = forwardDownload(s, pod.Name, 8080, url)
		return err
	})
	if directBytes < want || fwdBytes < want {
		b.Fatalf("downloads were short: direct %d, forwarded %d bytes, want %d", directBytes, fwdBytes, want)
	}
	mbps := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
	fmt.Printf(`
exec round trip (N=%d)       p50        p99
raw containerd exec          %-10s %-10s
skiff exec                   %-10s %-10s
ratio                        %.2fx      %.2fx
port-forward (%d MiB)        throughput
direct TCP to the pod IP     %.0f MiB/s
skiff port-forward           %.0f MiB/s   (%.2fx of direct)
`, execs, ms(percentile(rawExec, 50)), ms(percentile(rawExec, 99)), ms(percentile(skiffExec, 50)), ms(percentile(skiffExec, 99)),
		ratio(percentile(skiffExec, 50), percentile(rawExec, 50)), ratio(percentile(skiffExec, 99), percentile(rawExec, 99)),
		blobMB, mbps(directBytes, direct), mbps(fwdBytes, forwarded), mbps(fwdBytes, forwarded)/mbps(directBytes, direct))
	b.ReportMetric(msf(percentile(skiffExec, 50)), "exec-p50-ms")
	b.ReportMetric(msf(percentile(rawExec, 50)), "raw-exec-p50-ms")
	b.ReportMetric(mbps(fwdBytes, forwarded), "portforward-MiB/s")
	b.ReportMetric(mbps(directBytes, direct), "direct-MiB/s")
	b.ReportMetric(0, "ns/op")
}

func timeIt(b *testing.B, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// podTask finds the bench pod's running task in skiff's containerd
// namespace (the only running task there).
func podTask(b *testing.B, socket string) containerd.Task {
	c, err := containerd.New(socket)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := namespaces.WithNamespace(context.Background(), "skiff")
	ctrs, err := c.Containers(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, ctr := range ctrs {
		if t, err := ctr.Task(ctx, nil); err == nil {
			return t
		}
	}
	b.Fatal("no running task in containerd namespace skiff")
	return nil
}

func containerdExec(task containerd.Task, id string) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "skiff"), 30*time.Second)
	defer cancel()
	spec := &specs.Process{Args: []string{"true"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	p, err := task.Exec(ctx, id, spec, cio.NullIO)
	if err != nil {
		return err
	}
	defer p.Delete(ctx)
	exited, err := p.Wait(ctx)
	if err != nil {
		return err
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	if st := <-exited; st.ExitCode() != 0 {
		return fmt.Errorf("raw exec exit code %d", st.ExitCode())
	}
	return nil
}

func skiffExecTrue(s *skiffd, pod string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := s.client.API.Exec(ctx)
	if err != nil {
		return err
	}
	start := &apipb.ExecStart{Namespace: podNamespace, Pod: pod, Command: []string{"true"}}
	if err := stream.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Start{Start: start}}); err != nil {
		return err
	}
	_ = stream.CloseSend()
	for {
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		if exit := resp.GetExit(); exit != nil {
			if exit.ExitCode != 0 {
				return fmt.Errorf("exec exit code %d: %s", exit.ExitCode, exit.Error)
			}
			return nil
		}
	}
}

func download(addr, request string) (int64, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		return 0, err
	}
	return io.Copy(io.Discard, conn)
}

func forwardDownload(s *skiffd, pod string, port int32, request string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := s.client.API.PortForward(ctx)
	if err != nil {
		return 0, err
	}
	start := &apipb.PortForwardStart{Namespace: podNamespace, Pod: pod, Port: port}
	if err := stream.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Start{Start: start}}); err != nil {
		return 0, err
	}
	if err := stream.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Data{Data: []byte(request)}}); err != nil {
		return 0, err
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n += int64(len(resp.GetData()))
		if resp.GetCloseWrite() {
			_ = stream.CloseSend()
		}
	}
}
