package e2e

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func podManifest(name, script string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    app: %s
spec:
  containers:
  - name: main
    image: %s
    command: ["sh", "-c"]
    args: [%q]
    env:
    - name: GREETING
      value: hello-from-env
    workingDir: /tmp
    resources:
      requests:
        cpu: 50m
        memory: 16Mi
      limits:
        cpu: 200m
        memory: 64Mi
`, name, name, testImage, script)
}

// A pod applied from a manifest runs on real containerd with its command,
// args, env and working dir; get, logs, describe and delete behave as
// kubectl's.
func TestPodLifecycle(t *testing.T) {
	c := startCluster(t)
	out := c.apply(podManifest("web", `echo "$GREETING in $(pwd) as $(hostname)"; exec sleep 3600`))
	if !strings.Contains(out, "pod/web created") {
		t.Fatalf("apply said %q, want pod/web created", out)
	}
	if out := c.apply(podManifest("web", `echo "$GREETING in $(pwd) as $(hostname)"; exec sleep 3600`)); !strings.Contains(out, "pod/web unchanged") {
		t.Errorf("second apply said %q, want pod/web unchanged", out)
	}
	c.waitPodPhase("web", "Running", 90*time.Second)

	rows := c.mustCtl("get", "pods")
	if !regexp.MustCompile(`(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$`).MatchString(rows) ||
		!regexp.MustCompile(`(?m)^web\s+1/1\s+Running\s+0\s+\d+s$`).MatchString(rows) {
		t.Errorf("get pods:\n%s", rows)
	}
	c.waitFor("log line", 30*time.Second, func() (bool, string) {
		logs, _, _ := c.ctl("logs", "web")
		return strings.Contains(logs, "hello-from-env in /tmp as web"), logs
	})
	wide := c.mustCtl("get", "pod", "web", "-o", "wide")
	if !regexp.MustCompile(`web\s+1/1\s+Running\s+0\s+\S+\s+10\.250\.\d+\.\d+\s+skiff-e2e`).MatchString(wide) {
		t.Errorf("get -o wide:\n%s", wide)
	}
	desc := c.describe("web")
	for _, want := range []string{"Name:", "web", "Node:", "skiff-e2e", "Status:", "Running", "QoS Class:", "Burstable", "Started container main"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe lacks %q:\n%s", want, desc)
		}
	}

	out = c.mustCtl("delete", "pod", "web", "--grace-period=1")
	if !strings.Contains(out, `pod "web" deleted`) {
		t.Errorf("delete said %q", out)
	}
	if _, errOut, err := c.ctl("get", "pod", "web"); err == nil || !strings.Contains(errOut, `pods "web" not found`) {
		t.Errorf("get after delete: err=%v stderr=%s", err, errOut)
	}
	if n := countContainers(t, c.containerd); n != 0 {
		t.Errorf("%d containers left in containerd after the pod was deleted", n)
	}
}

// Every pod gets its own network namespace with an address on the node's
// bridge, and the node reaches it.
func TestPodIPReachableFromNode(t *testing.T) {
	c := startCluster(t)
	c.apply(podManifest("echo", `echo pong-$(hostname) > /tmp/index.html; exec httpd -f -p 8080 -h /tmp`))
	c.waitPodPhase("echo", "Running", 90*time.Second)
	ip := c.jsonpath("pod/echo", "{.status.podIP}")
	if !strings.HasPrefix(ip, "10.250.") {
		t.Fatalf("pod IP %q is not in the test cluster CIDR %s", ip, testClusterCIDR)
	}
	body := c.waitFor("HTTP answer from the pod", 30*time.Second, func() (bool, string) {
		got, err := httpGet(net.JoinHostPort(ip, "8080"))
		return err == nil && strings.Contains(got, "pong-echo"), fmt.Sprint(got, err)
	})
	t.Logf("pod answered: %q", body)
}

func httpGet(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	data, err := io.ReadAll(conn)
	return string(data), err
}

// A pod that asks for more memory than any node has stays Pending with
// kube-scheduler's reason.
func TestUnschedulablePodStaysPending(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  containers:
  - name: hog
    image: %s
    command: ["sleep", "3600"]
    resources:
      requests:
        memory: 100Ti
`, testImage))
	c.waitFor("FailedScheduling", 30*time.Second, func() (bool, string) {
		msg := c.jsonpath("pod/hog", `{.status.conditions[?(@.type=="PodScheduled")].message}`)
		return strings.Contains(msg, "0/1 nodes are available: 1 Insufficient memory"), msg
	})
	if phase := c.jsonpath("pod/hog", "{.status.phase}"); phase != "Pending" {
		t.Errorf("phase = %q, want Pending", phase)
	}
	if desc := c.describe("hog"); !strings.Contains(desc, "FailedScheduling") {
		t.Errorf("describe shows no FailedScheduling event:\n%s", desc)
	}
}

// Containers that exit report their exit code and reason; restartPolicy
// Never leaves them so and the pod phase follows.
func TestExitCodesAndPhases(t *testing.T) {
	c := startCluster(t)
	for _, tc := range []struct{ name, script, phase, reason, code string }{
		{"ok", "echo done", "Succeeded", "Completed", "0"},
		{"bad", "echo failing >&2; exit 3", "Failed", "Error", "3"},
	} {
		m := strings.Replace(podManifest(tc.name, tc.script), "spec:\n", "spec:\n  restartPolicy: Never\n", 1)
		c.apply(m)
		c.waitPodPhase(tc.name, tc.phase, 90*time.Second)
		term := `{.status.containerStatuses[0].state.terminated.`
		if got := c.jsonpath("pod/"+tc.name, term+"exitCode}"); got != tc.code {
			t.Errorf("%s: exit code %q, want %s", tc.name, got, tc.code)
		}
		if got := c.jsonpath("pod/"+tc.name, term+"reason}"); got != tc.reason {
			t.Errorf("%s: reason %q, want %s", tc.name, got, tc.reason)
		}
	}
	rows := c.mustCtl("get", "pods", "--no-headers")
	if !regexp.MustCompile(`(?m)^ok\s+0/1\s+Completed\s+0`).MatchString(rows) || !regexp.MustCompile(`(?m)^bad\s+0/1\s+Error\s+0`).MatchString(rows) {
		t.Errorf("get pods:\n%s", rows)
	}
	if logs := c.mustCtl("logs", "bad"); !strings.Contains(logs, "failing") {
		t.Errorf("logs of bad = %q", logs)
	}
}

// Bad manifests are refused with errors that name the field, and nothing is
// stored.
func TestStrictDecodingAndValidation(t *testing.T) {
	c := startCluster(t)
	cases := []struct{ name, manifest, want string }{
		{"unknown field", `apiVersion: v1
kind: Pod
metadata: {name: u1}
spec:
  containers:
  - name: a
    image: x:1
    colour: blue
`, `unknown field "spec.containers[0].colour"`},
		{"unsupported field", `apiVersion: v1
kind: Pod
metadata: {name: u2}
spec:
  affinity: {}
  containers:
  - name: a
    image: x:1
`, "spec.affinity: not supported by skiff"},
		{"invalid name", `apiVersion: v1
kind: Pod
metadata: {name: Bad_Name}
spec:
  containers:
  - name: a
    image: x:1
`, "metadata.name: Invalid value: \"Bad_Name\""},
		{"missing image", `apiVersion: v1
kind: Pod
metadata: {name: u4}
spec:
  containers:
  - name: a
`, "spec.containers[0].image: Required value"},
	}
	for _, tc := range cases {
		out, errOut, err := c.ctlIn(tc.manifest, "apply", "-f", "-")
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: err=%v stdout=%q stderr=%q, want error containing %q", tc.name, err, out, errOut, tc.want)
		}
	}
	if out, errOut, _ := c.ctl("get", "pods", "--no-headers"); strings.TrimSpace(out) != "" {
		t.Errorf("refused manifests left pods behind:\n%s%s", out, errOut)
	}
}
