package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The chapter's nginx-probe.yaml, with busybox httpd in place of nginx:
// a startup probe (exec), a readiness and a liveness probe (httpGet).
func probePod(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  # busybox httpd runs as PID 1 and so ignores SIGTERM (nginx would exit):
  # keep the kill after a failed liveness probe short.
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %s
    command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports:
    - containerPort: 80
    startupProbe:
      exec:
        command: ["cat", "/www/index.html"]
      failureThreshold: 30
      periodSeconds: 1
    readinessProbe:
      httpGet:
        path: /index.html
        port: 80
      initialDelaySeconds: 1
      periodSeconds: 1
    livenessProbe:
      httpGet:
        path: /index.html
        port: 80
      initialDelaySeconds: 1
      periodSeconds: 3
  restartPolicy: Always
`, name, testImage)
}

// READY goes 0/1 -> 1/1; deleting index.html fails the liveness probe, the
// container is restarted within periodSeconds x failureThreshold + one
// period, and it becomes ready again.
func TestChapterProbeScenario(t *testing.T) {
	c := startCluster(t)
	c.apply(probePod("nginx"))
	sawUnready := false
	c.waitFor("READY 1/1", 60*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "nginx", "--no-headers")
		if regexp.MustCompile(`nginx\s+0/1\s+Running`).MatchString(out) {
			sawUnready = true
		}
		return regexp.MustCompile(`nginx\s+1/1\s+Running\s+0\s`).MatchString(out), out
	})
	if !sawUnready {
		t.Log("the pod was ready at the first look (probes passed before the first poll)")
	}

	start := time.Now()
	c.mustCtl("exec", "nginx", "--", "rm", "-f", "/www/index.html")
	c.waitFor("liveness restart", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "nginx", "--no-headers")
		return regexp.MustCompile(`nginx\s+\d/1\s+Running\s+1 `).MatchString(out), out
	})
	detected := time.Since(start)
	// periodSeconds 3 x failureThreshold 3 + one period, plus a second for
	// the poll above.
	if limit := 13 * time.Second; detected > limit {
		t.Errorf("liveness failure took %v to restart the container, more than %v", detected, limit)
	}
	t.Logf("liveness failure detected and the container restarted after %v", detected)
	c.waitFor("ready again", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "nginx", "--no-headers")
		return regexp.MustCompile(`nginx\s+1/1\s+Running\s+1 `).MatchString(out), out
	})
	desc := c.describe("nginx")
	for _, want := range []string{"Liveness probe failed: HTTP probe failed with statuscode: 404", "Container web failed liveness probe, will be restarted"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}
}

// Readiness flips READY without restarting; a tcpSocket liveness probe on a
// closed port restarts the container.
func TestReadinessFlipsAndTCPLiveness(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: flip
spec:
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: tcp
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
    livenessProbe:
      tcpSocket:
        port: 9999
      periodSeconds: 1
      failureThreshold: 2
`, testImage))
	ready := func(want string) {
		t.Helper()
		c.waitFor("flip READY "+want, 30*time.Second, func() (bool, string) {
			out, _, _ := c.ctl("get", "pod", "flip", "--no-headers")
			return regexp.MustCompile(`flip\s+` + want + `\s+Running\s+0\s`).MatchString(out), out
		})
	}
	ready("0/1")
	c.mustCtl("exec", "flip", "--", "touch", "/tmp/ready")
	ready("1/1")
	c.mustCtl("exec", "flip", "--", "rm", "/tmp/ready")
	ready("0/1")
	c.waitFor("tcp liveness restarts", 60*time.Second, func() (bool, string) {
		restarts := c.jsonpath("pod/tcp", "{.status.containerStatuses[0].restartCount}")
		return restarts != "" && restarts != "0", restarts
	})
}

// Restarting the probes plugin resumes every probe without restarting any
// container, and restarting skiffd does not turn a ready pod unready.
func TestProbesSurvivePluginAndAgentRestarts(t *testing.T) {
	c := startCluster(t)
	c.apply(probePod("steady"))
	readyRow := regexp.MustCompile(`steady\s+1/1\s+Running\s+0\s`)
	c.waitFor("READY 1/1", 60*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "steady", "--no-headers")
		return readyRow.MatchString(out), out
	})
	stays := func(what string, d time.Duration) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
			if out, _, _ := c.ctl("get", "pod", "steady", "--no-headers"); !readyRow.MatchString(out) {
				t.Fatalf("%s: the pod left READY 1/1 with 0 restarts: %s", what, out)
			}
		}
	}

	old := c.pluginPIDs()["probes"]
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("probes plugin restarted", 30*time.Second, func() (bool, string) {
		pid := c.pluginPIDs()["probes"]
		return pid != 0 && pid != old, c.mustCtl("plugin", "ls")
	})
	stays("after the probes plugin restarted", 4*time.Second)

	c.stop()
	c.start()
	stays("after skiffd restarted", 4*time.Second)

	// The probes still run: breaking the app restarts it.
	c.mustCtl("exec", "steady", "--", "rm", "-f", "/www/index.html")
	c.waitFor("liveness restart after the restarts", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "steady", "--no-headers")
		return regexp.MustCompile(`steady\s+\d/1\s+Running\s+1 `).MatchString(out), out
	})
}

// gRPC probes ask the standard health service: a serving service makes the
// pod ready; a liveness probe on a NOT_SERVING service restarts it. The
// server is a static binary the test builds, mounted from the node.
func TestGRPCProbes(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "grpchealth"), "./testdata/grpchealth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the gRPC health server: %v\n%s", err, out)
	}
	c := startCluster(t, "--allow-host-path")
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: grpc
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: bin
    hostPath: {path: %[1]s, type: Directory}
  containers:
  - name: ok
    image: %[2]s
    command: ["/probe-bin/grpchealth", "-listen", ":9090"]
    volumeMounts: [{name: bin, mountPath: /probe-bin, readOnly: true}]
    readinessProbe:
      grpc: {port: 9090}
      periodSeconds: 1
  - name: broken
    image: %[2]s
    command: ["/probe-bin/grpchealth", "-listen", ":9091"]
    volumeMounts: [{name: bin, mountPath: /probe-bin, readOnly: true}]
    livenessProbe:
      grpc: {port: 9091, service: broken}
      periodSeconds: 1
      failureThreshold: 2
`, dir, testImage))
	c.waitFor("the serving container ready", 60*time.Second, func() (bool, string) {
		return c.jsonpath("pod/grpc", `{.status.containerStatuses[?(@.name=="ok")].ready}`) == "true", c.describe("grpc")
	})
	c.waitFor("the NOT_SERVING container restarted by its liveness probe", 60*time.Second, func() (bool, string) {
		n := c.jsonpath("pod/grpc", `{.status.containerStatuses[?(@.name=="broken")].restartCount}`)
		return n != "" && n != "0", c.describe("grpc")
	})
	if desc := c.describe("grpc"); !strings.Contains(desc, "Liveness probe failed") {
		t.Errorf("describe shows no liveness failure:\n%s", desc)
	}
}
