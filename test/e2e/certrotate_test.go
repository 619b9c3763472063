package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
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

// rotProc is a skiffd process a test started, with its log.
type rotProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func startSkiffd(t *testing.T, logPath string, args ...string) *rotProc {
	t.Helper()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "skiffd"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.Start(cmd); err != nil {
		t.Fatalf("start skiffd %s: %v", args[0], err)
	}
	p := &rotProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p
}

func (p *rotProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// clientCertOf reads the client certificate an agent saved.
func clientCertOf(t *testing.T, agentDir string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(agentDir, "node-credentials", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM certificate", agentDir)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestNodeClientCertificateRotation: a server issues node client
// certificates valid 20s; an agent that joined with a token renews its
// own through CertificateSigningRequests before each expires, without
// restarting, and keeps working long past its first certificate's expiry:
// its Node stays Ready, its pod stays Running, a pod made afterwards runs,
// and `skiffctl get csr` lists the approved, issued requests.
func TestNodeClientCertificateRotation(t *testing.T) {
	testenv.RequireRoot(t)
	tmp := t.TempDir()
	serverDir, agentDir := filepath.Join(tmp, "server"), filepath.Join(tmp, "agent")
	listen := freeLoopbackAddr(t)
	socket := testenv.Containerd(t)
	const node = "skiff-rot"
	admin := filepath.Join(serverDir, "admin.conf")
	ctl := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "skiffctl"), append([]string{"--config", admin}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err != nil {
			err = fmt.Errorf("skiffctl %s: %w: %s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), err
	}
	var procs []*rotProc
	t.Cleanup(func() {
		_, _ = ctl("delete", "pods", "--all", "--grace-period=1", "--timeout=60s")
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		if t.Failed() {
			for _, p := range procs {
				data, _ := os.ReadFile(p.log)
				t.Logf("%s (tail):\n%s", filepath.Base(p.log), tail(string(data), 60))
			}
		}
		testenv.TeardownNode(t, agentDir, testBridge)
	})
	waitFor := func(what string, timeout time.Duration, cond func() (bool, string)) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			ok, state := cond()
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s; last state:\n%s", timeout, what, state)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	procs = append(procs, startSkiffd(t, filepath.Join(tmp, "server.log"), "server", "--data-dir", serverDir, "--listen", listen,
		"--cluster-cidr", testClusterCIDR, "--node-grace-period", "6s", "--node-cert-ttl", "20s"))
	var token string
	waitFor("the server's join token", 30*time.Second, func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(serverDir, "join-token"))
		token = strings.TrimSpace(string(data))
		if _, cerr := ctl("version"); err != nil || cerr != nil {
			return false, fmt.Sprint(err, cerr)
		}
		return token != "", ""
	})
	joined := time.Now()
	procs = append(procs, startSkiffd(t, filepath.Join(tmp, "agent.log"), "agent", "--data-dir", agentDir, "--server", listen, "--token", token,
		"--node-name", node, "--node-ip", "127.0.0.1", "--containerd-socket", socket, "--pod-bridge", testBridge,
		"--cluster-cidr", testClusterCIDR, "--heartbeat-interval", "1s", "--backoff-base", "1s"))
	ready := func() (bool, string) {
		out, err := ctl("get", "node", node, "--no-headers")
		return err == nil && strings.Contains(out, " Ready "), fmt.Sprint(out, err)
	}
	waitFor("node Ready", 60*time.Second, ready)
	first := clientCertOf(t, agentDir)
	if life := first.NotAfter.Sub(first.NotBefore); life > 25*time.Second {
		t.Fatalf("the node's first certificate lives %v, want about 20s (--node-cert-ttl)", life)
	}
	t.Logf("joined; first client certificate valid %s to %s", first.NotBefore.Format(time.RFC3339), first.NotAfter.Format(time.RFC3339))

	archive, err := testimage.BusyboxArchive(tmp, testImage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl("image", "load", archive); err != nil {
		t.Fatal(err)
	}
	runPod := func(name string) {
		t.Helper()
		manifest := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":%q,"imagePullPolicy":"IfNotPresent","command":["sleep","3600"]}]}}`, name, testImage)
		f := filepath.Join(tmp, name+".json")
		if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ctl("apply", "-f", f); err != nil {
			t.Fatal(err)
		}
		waitFor("pod "+name+" Running", 60*time.Second, func() (bool, string) {
			out, err := ctl("get", "pod", name, "-o", "jsonpath={.status.phase}")
			return err == nil && out == "Running", fmt.Sprint(out, err)
		})
	}
	runPod("before")

	// Past the first certificate's expiry, with a heartbeat every second
	// and a 6s grace period: the node must never go NotReady.
	until := first.NotAfter.Add(15 * time.Second)
	for time.Now().Before(until) {
		if ok, state := ready(); !ok {
			t.Fatalf("node not Ready %v after joining: %s", time.Since(joined).Round(time.Second), state)
		}
		if out, err := ctl("get", "pod", "before", "-o", "jsonpath={.status.phase}"); err != nil || out != "Running" {
			t.Fatalf("pod before: %q %v", out, err)
		}
		time.Sleep(time.Second)
	}
	cur := clientCertOf(t, agentDir)
	if cur.Equal(first) || !cur.NotAfter.After(time.Now()) || cur.Subject.CommonName != "system:node:"+node {
		t.Fatalf("the saved client certificate was not renewed: %s valid until %s", cur.Subject, cur.NotAfter.Format(time.RFC3339))
	}
	// The agent watches and reports a new pod over its renewed identity.
	runPod("after")

	out, err := ctl("get", "csr")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("get csr:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION" {
		t.Errorf("get csr header: %q", lines[0])
	}
	issued := 0
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) == 6 && f[2] == "kubernetes.io/kube-apiserver-client-kubelet" && f[3] == "system:node:"+node && f[5] == "Approved,Issued" {
			issued++
		} else {
			t.Errorf("get csr: unexpected row %q", l)
		}
	}
	if issued < 2 {
		t.Errorf("%d approved and issued requests after %v, want at least 2", issued, time.Since(joined).Round(time.Second))
	}
	log, _ := os.ReadFile(filepath.Join(tmp, "agent.log"))
	var notable []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "certificate") || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			notable = append(notable, l)
		}
	}
	t.Logf("agent log, rotations and warnings:\n%s", strings.Join(notable, "\n"))
	if n := strings.Count(string(log), "rotated the client certificate"); n < 2 {
		t.Errorf("the agent logged %d rotations", n)
	}
	if strings.Contains(string(log), "panic") {
		t.Errorf("the agent panicked:\n%s", tail(string(log), 40))
	}
}
