package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// securityPod runs script under the given securityContext lines (indented
// for a container).
func securityPod(name, script, securityContext string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: %s
    command: ["sh", "-c", %q]
    securityContext:
%s
`, name, testImage, script, securityContext)
}

func (c *cluster) logsOnceDone(name string) string {
	c.t.Helper()
	c.waitFor(name+" finished", 60*time.Second, func() (bool, string) {
		phase := c.jsonpath("pod/"+name, "{.status.phase}")
		return phase == "Succeeded" || phase == "Failed", phase + "\n" + c.describe(name)
	})
	return c.mustCtl("logs", name)
}

// securityContext reaches the container: user and group, read-only root,
// capabilities, no-new-privileges; runAsNonRoot and privileged are refused
// with kubelet's reason.
func TestSecurityContext(t *testing.T) {
	c := startCluster(t)
	c.apply(securityPod("ids", "id", "      runAsUser: 1000\n      runAsGroup: 3000"))
	c.apply(securityPod("rofs", "touch /made-it 2>&1; echo rc=$?", "      readOnlyRootFilesystem: true"))
	c.apply(securityPod("caps", "grep -E 'CapEff|NoNewPrivs' /proc/self/status",
		"      allowPrivilegeEscalation: false\n      capabilities:\n        drop: [\"ALL\"]"))
	c.apply(securityPod("nonroot", "id", "      runAsNonRoot: true"))
	c.apply(securityPod("priv", "id", "      privileged: true"))

	if out := c.logsOnceDone("ids"); !strings.Contains(out, "uid=1000 gid=3000") {
		t.Errorf("id under runAsUser 1000 / runAsGroup 3000: %q", out)
	}
	if out := c.logsOnceDone("rofs"); !strings.Contains(out, "Read-only file system") || !strings.Contains(out, "rc=1") {
		t.Errorf("write to a read-only root: %q", out)
	}
	out := c.logsOnceDone("caps")
	if !strings.Contains(out, "CapEff:\t0000000000000000") || !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("capabilities dropped / no new privileges: %q", out)
	}
	for _, tc := range []struct{ pod, want string }{
		{"nonroot", "runAsNonRoot and image will run as root"},
		{"priv", "privileged"},
	} {
		c.waitFor(tc.pod+" refused", 60*time.Second, func() (bool, string) {
			row, _, _ := c.ctl("get", "pod", tc.pod, "--no-headers")
			msg := c.jsonpath("pod/"+tc.pod, "{.status.containerStatuses[0].state.waiting.message}")
			return strings.Contains(row, "CreateContainerConfigError") && strings.Contains(msg, tc.want), row + msg
		})
	}
}

// The containers of a pod share its network (localhost), IPC namespace and
// hostname, and not another pod's.
func TestContainersShareThePodsNamespaces(t *testing.T) {
	c := startCluster(t)
	shared := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
spec:
  containers:
  - name: server
    image: %[2]s
    command: ["sh", "-c", "echo from-server > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp"]
  - name: client
    image: %[2]s
    command: ["sh", "-c", "sleep 3600"]
`, "%s", testImage)
	c.apply(fmt.Sprintf(shared, "duo"))
	c.apply(fmt.Sprintf(shared, "other"))
	c.waitPodPhase("duo", "Running", 60*time.Second)
	c.waitPodPhase("other", "Running", 60*time.Second)
	c.waitFor("localhost between containers", 20*time.Second, func() (bool, string) {
		out, errOut, _ := c.ctl("exec", "duo", "-c", "client", "--", "wget", "-qO-", "http://127.0.0.1:8080/index.html")
		return strings.Contains(out, "from-server"), out + errOut
	})
	ns := func(pod, container, what string) string {
		return strings.TrimSpace(c.mustCtl("exec", pod, "-c", container, "--", "sh", "-c", what))
	}
	if a, b := ns("duo", "server", "readlink /proc/self/ns/ipc"), ns("duo", "client", "readlink /proc/self/ns/ipc"); a != b || a == "" {
		t.Errorf("IPC namespaces differ within a pod: %q vs %q", a, b)
	}
	if a, b := ns("duo", "client", "readlink /proc/self/ns/ipc"), ns("other", "client", "readlink /proc/self/ns/ipc"); a == b {
		t.Errorf("two pods share IPC namespace %q", a)
	}
	if h := ns("duo", "client", "hostname"); h != "duo" {
		t.Errorf("hostname in pod duo = %q", h)
	}
	if a, b := ns("duo", "server", "readlink /proc/self/ns/uts"), ns("duo", "client", "readlink /proc/self/ns/uts"); a != b {
		t.Errorf("UTS namespaces differ within a pod: %q vs %q", a, b)
	}
}
