package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"

	"github.com/skiffhq/skiff/test/testenv"
)

// Names no real setup and no e2e test uses, so a bench can run beside
// `make test`.
const (
	benchImage   = "skiff.bench/busybox:1.0"
	benchBridge  = "skiffbench0"
	benchCIDR    = "10.249.0.0/16"
	benchNode    = "skiff-bench"
	benchLabel   = "skiff-bench" // label key on every pod the bench makes
	podNamespace = "default"
)

// binDir is where `make build` put skiffd, skiffctl and the plugins.
func binDir(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("SKIFF_BIN_DIR")
	if dir == "" {
		b.Fatal("SKIFF_BIN_DIR is not set: run `make bench`, or `make build` and set SKIFF_BIN_DIR to its bin/ directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "skiffd")); err != nil {
		b.Fatalf("SKIFF_BIN_DIR=%s has no skiffd (run `make build`): %v", dir, err)
	}
	return dir
}

// skiffd is a `skiffd dev` started by the bench.
type skiffd struct {
	b       *testing.B
	bin     string
	dataDir string
	config  string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	client  *client.Client
}

// coldStart is how long after launch skiffd got to each step.
type coldStart struct {
	config time.Duration // admin.conf written: certificates made, etcd up
	api    time.Duration // first API call answered
	ready  time.Duration // node Ready
}

// startSkiffd launches `skiffd dev` on a fresh data dir and the given
// containerd, and returns once the node is Ready, with the time that took.
// extraArgs go after the bench's own flags, for a bench that compares
// settings. Pods, the process and the node's network are removed when the
// bench ends, also when it fails.
func startSkiffd(b *testing.B, bin, containerdSocket string, extraArgs ...string) (*skiffd, coldStart) {
	b.Helper()
	s := &skiffd{b: b, bin: bin, dataDir: b.TempDir()}
	s.config = filepath.Join(s.dataDir, "admin.conf")
	s.logPath = filepath.Join(s.dataDir, "skiffd.log")
	log, err := os.Create(s.logPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.cleanup)
	args := []string{"dev",
		"--data-dir", s.dataDir,
		"--listen", freeLoopbackAddr(b),
		"--containerd-socket", containerdSocket,
		"--no-user-config",
		"--node-name", benchNode,
		"--pod-bridge", benchBridge,
		"--cluster-cidr", benchCIDR,
	}
	s.cmd = exec.Command(filepath.Join(bin, "skiffd"), append(args, extraArgs...)...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := testenv.Start(s.cmd); err != nil {
		log.Close()
		b.Fatalf("start skiffd: %v", err)
	}
	s.exited = make(chan struct{})
	go func() {
		_ = s.cmd.Wait()
		log.Close()
		close(s.exited)
	}()
	return s, s.waitReady(start, 60*time.Second)
}

// waitReady polls the node every 20ms with the Go client until it is Ready.
// Until the first call succeeds, each attempt dials afresh: a gRPC client
// that failed to connect would otherwise wait out its reconnect back-off
// (a second or more) and inflate the measurement.
func (s *skiffd) waitReady(start time.Time, timeout time.Duration) coldStart {
	s.b.Helper()
	var cs coldStart
	deadline := time.Now().Add(timeout)
	last := "admin config not written yet"
	for {
		if s.client == nil {
			if _, err := os.Stat(s.config); err == nil {
				if cs.config == 0 {
					cs.config = time.Since(start)
				}
				if c, err := client.FromFile(s.config, ""); err == nil {
					s.client = c
				} else {
					last = err.Error()
				}
			}
		}
		if s.client != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			var node corev1.Node
			err := s.client.Get(ctx, api.Nodes, "", benchNode, &node)
			cancel()
			if cs.api == 0 && (err == nil || apierrors.IsNotFound(err)) {
				cs.api = time.Since(start)
			}
			switch {
			case err == nil && nodeReady(&node):
				cs.ready = time.Since(start)
				return cs
			case err == nil || apierrors.IsNotFound(err):
				last = fmt.Sprintf("node %q not Ready yet (err=%v)", benchNode, err)
			default: // not serving yet: dial again next time
				last = err.Error()
				s.client.Close()
				s.client = nil
			}
		}
		if time.Now().After(deadline) {
			s.b.Fatalf("skiffd: node %q not Ready after %v; last: %s", benchNode, timeout, last)
		}
		select {
		case <-s.exited:
			s.b.Fatalf("skiffd exited before its node was Ready: %v", s.cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// ctl runs skiffctl against the cluster, for what is not measured.
func (s *skiffd) ctl(args ...string) {
	s.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(s.bin, "skiffctl"), append([]string{"--config", s.config}, args...)...).CombinedOutput()
	if err != nil {
		s.b.Fatalf("skiffctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// deleteBenchPods deletes every pod the bench made (grace period 1s) and
// waits until they are gone, which is when the agent has stopped their
// containers and torn down their sandboxes.
func (s *skiffd) deleteBenchPods(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sel := client.ListOptions{LabelSelector: benchLabel}
	for {
		pods, _, err := client.List[corev1.Pod](ctx, s.client, api.Pods, podNamespace, sel)
		if err != nil {
			return fmt.Errorf("list bench pods: %w", err)
		}
		if len(pods) == 0 {
			return nil
		}
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if _, err := s.client.Delete(ctx, api.Pods, podNamespace, p.Name, client.DeleteOptions{GracePeriodSeconds: 1}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %q: %w", p.Name, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d bench pods still there after %v", len(pods), timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends skiffd with SIGTERM and waits for it.
func (s *skiffd) stop() {
	if s.cmd == nil || s.exited == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.b.Logf("skiffd did not stop on SIGTERM within 30s; killing it")
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.exited = nil
}

func (s *skiffd) cleanup() {
	if s.client != nil {
		if err := s.deleteBenchPods(90 * time.Second); err != nil {
			s.b.Logf("cleanup: %v", err)
		}
		s.client.Close()
	}
	s.stop()
	data, err := os.ReadFile(s.logPath)
	if err == nil && s.b.Failed() {
		s.b.Logf("skiffd log (tail):\n%s", tail(string(data), 60))
	}
	if keep := os.Getenv("SKIFF_BENCH_LOG"); keep != "" && err == nil {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			s.b.Logf("SKIFF_BENCH_LOG: %v", err)
		}
	}
	testenv.TeardownNode(s.b, s.dataDir, benchBridge)
}

func freeLoopbackAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
