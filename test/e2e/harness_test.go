// Package e2e runs skiff end to end: real skiffd, skiffctl and plugin
// binaries, real containerd and runc, real network namespaces. Tests need
// root and containerd; without them they skip, except in CI (CI=true), where
// they fail.
package e2e

import (
	"bytes"
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

	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// testImage is the busybox image every test pod runs; the harness builds it
// offline and loads it with `skiffctl image load`.
const testImage = "skiff.test/busybox:1.0"

// Pod network of test clusters: a bridge and CIDR no real setup uses.
const (
	testBridge      = "skiffe2e0"
	testClusterCIDR = "10.250.0.0/16"
)

var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	binDir = os.Getenv("SKIFF_BIN_DIR")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "skiff-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if err := buildBinaries(dir); err != nil {
			fmt.Fprintln(os.Stderr, "build skiff binaries:", err)
			return 1
		}
		binDir = dir
	}
	return m.Run()
}

func buildBinaries(dir string) error {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return err
	}
	cmd := exec.Command("make", "build", "BIN="+dir)
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// cluster is a `skiffd dev` started by a test.
type cluster struct {
	t          *testing.T
	dataDir    string
	listen     string
	containerd string
	config     string
	extraArgs  []string
	cmd        *exec.Cmd
	exited     chan struct{}
	logPath    string
}

// startCluster starts `skiffd dev` on a private containerd and waits for the
// node to be Ready with the test image loaded. Everything is removed when
// the test ends, also when it fails.
func startCluster(t *testing.T, extraArgs ...string) *cluster {
	t.Helper()
	testenv.RequireRoot(t)
	c := &cluster{
		t:          t,
		dataDir:    t.TempDir(),
		listen:     freeLoopbackAddr(t),
		containerd: testenv.Containerd(t),
		extraArgs:  extraArgs,
	}
	c.config = filepath.Join(c.dataDir, "admin.conf")
	c.logPath = filepath.Join(c.dataDir, "skiffd.log")
	t.Cleanup(c.cleanup)
	c.start()
	c.loadTestImage()
	return c
}

// loadTestImage builds the busybox test image offline and loads it into
// every node. Tests never pull from outside the machine.
func (c *cluster) loadTestImage() {
	c.t.Helper()
	archive, err := testimage.BusyboxArchive(c.t.TempDir(), testImage)
	if err != nil {
		c.t.Fatalf("build test image: %v", err)
	}
	c.mustCtl("image", "load", archive)
}

func (c *cluster) start() {
	c.t.Helper()
	args := append([]string{"dev",
		"--data-dir", c.dataDir,
		"--listen", c.listen,
		"--containerd-socket", c.containerd,
		"--no-user-config",
		"--node-name", "skiff-e2e",
		"--pod-bridge", testBridge,
		"--cluster-cidr", testClusterCIDR,
		"--backoff-base", "1s",
	}, c.extraArgs...)
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "skiffd"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.Start(cmd); err != nil {
		c.t.Fatalf("start skiffd: %v", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(c.exited)
	}()
	c.waitFor("node Ready", 60*time.Second, func() (bool, string) {
		out, _, err := c.ctl("get", "nodes", "--no-headers")
		return err == nil && strings.Contains(out, " Ready "), out
	})
}

// stop ends skiffd with SIGTERM and waits for it; containers keep running.
func (c *cluster) stop() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// cleanup deletes every pod (so the plugins tear down what they made),
// stops skiffd and removes the node's pod network. The private containerd
// is cleaned by testenv.
func (c *cluster) cleanup() {
	if c.cmd != nil {
		_, _, _ = c.ctl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
	}
	c.stop()
	if c.t.Failed() {
		if data, err := os.ReadFile(c.logPath); err == nil {
			c.t.Logf("skiffd log (tail):\n%s", tail(string(data), 60))
		}
	}
	testenv.TeardownNode(c.t, c.dataDir, testBridge)
}

// ctl runs skiffctl against the cluster.
func (c *cluster) ctl(args ...string) (stdout, stderr string, err error) {
	return c.ctlIn("", args...)
}

func (c *cluster) ctlIn(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "skiffctl"), append([]string{"--config", c.config}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (c *cluster) mustCtl(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.ctl(args...)
	if err != nil {
		c.t.Fatalf("skiffctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// apply applies a manifest given inline.
func (c *cluster) apply(manifest string) string {
	c.t.Helper()
	out, errOut, err := c.ctlIn(manifest, "apply", "-f", "-")
	if err != nil {
		c.t.Fatalf("apply: %v\n%s%s", err, out, errOut)
	}
	return out
}

// waitFor polls cond every 200ms until it holds or the timeout passes.
func (c *cluster) waitFor(what string, timeout time.Duration, cond func() (bool, string)) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return state
		}
		last = state
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s; last state:\n%s", timeout, what, last)
		}
		select {
		case <-c.exited:
			c.t.Fatalf("skiffd exited while waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jsonpath reads a field of an object with -o jsonpath.
func (c *cluster) jsonpath(kindName, expr string) string {
	out, _, err := c.ctl("get", kindName, "-o", "jsonpath="+expr)
	if err != nil {
		return ""
	}
	return out
}

// waitPodPhase waits until the pod's phase is want.
func (c *cluster) waitPodPhase(name, want string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor("pod "+name+" "+want, timeout, func() (bool, string) {
		phase := c.jsonpath("pod/"+name, "{.status.phase}")
		return phase == want, phase + "\n" + c.describe(name)
	})
}

func (c *cluster) describe(name string) string {
	out, errOut, _ := c.ctl("describe", "pod", name)
	return out + errOut
}

func freeLoopbackAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
