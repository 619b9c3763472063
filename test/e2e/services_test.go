package e2e

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A backend: busybox httpd on 8080 (named "http") answering its own pod
// name, ready while /tmp/ready exists.
func backendPod(name, labels string, port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels: {%[2]s}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: %[3]s
    command: ["sh", "-c", "mkdir -p /www && echo %[1]s > /www/index.html && touch /tmp/ready && exec httpd -f -p %[4]d -h /www"]
    ports:
    - name: http
      containerPort: %[4]d
    readinessProbe:
      exec:
        command: ["cat", "/tmp/ready"]
      periodSeconds: 1
`, name, labels, testImage, port)
}

const clientPod = `apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: ` + testImage + `
    command: ["sleep", "3600"]
`

// Services on one node: expose gives a ClusterIP from 10.96.0.0/12; pods
// reach it by IP and by name through the cluster DNS in their resolv.conf;
// requests are spread over the ready backends only; the chapter's
// `kubectl expose pod redis --port 6379` works.
func TestServices(t *testing.T) {
	c := startCluster(t)
	c.apply(backendPod("web-1", "app: web", 8080))
	c.apply(backendPod("web-2", "app: web", 8080))
	c.apply(clientPod)
	for _, p := range []string{"web-1", "web-2", "client"} {
		c.waitPodPhase(p, "Running", 90*time.Second)
	}

	// A pod without labels cannot be exposed.
	_, errOut, err := c.ctl("expose", "pod", "client", "--port", "80")
	if err == nil || !strings.Contains(errOut, "couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed") {
		t.Errorf("expose of a pod without labels: %v\n%s", err, errOut)
	}
	if out := c.mustCtl("expose", "pod", "web-1", "--port", "80", "--target-port", "http", "--name", "web"); strings.TrimSpace(out) != "service/web exposed" {
		t.Errorf("expose said %q", out)
	}
	svcs := c.mustCtl("get", "svc")
	m := regexp.MustCompile(`(?m)^web\s+ClusterIP\s+(\S+)\s+<none>\s+80/TCP\s+\d+s$`).FindStringSubmatch(svcs)
	if !regexp.MustCompile(`(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`).MatchString(svcs) || m == nil {
		t.Fatalf("get svc:\n%s", svcs)
	}
	ip, err := netip.ParseAddr(m[1])
	if err != nil || !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) {
		t.Fatalf("cluster IP %q is not in 10.96.0.0/12", m[1])
	}
	c.waitFor("endpoints of web", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "endpoints", "web")
		return regexp.MustCompile(`(?m)^web\s+\S+:8080,\S+:8080\s+\d+s$`).MatchString(out), out
	})
	if out := c.mustCtl("get", "ep"); !regexp.MustCompile(`(?m)^NAME\s+ENDPOINTS\s+AGE$`).MatchString(out) {
		t.Errorf("get ep:\n%s", out)
	}
	if out := c.mustCtl("describe", "svc", "web"); !regexp.MustCompile(`(?m)^Selector:\s+app=web$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^IP:\s+`+regexp.QuoteMeta(ip.String())+`$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^TargetPort:\s+http/TCP$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^Endpoints:\s+\S+:8080,\S+:8080$`).MatchString(out) {
		t.Errorf("describe svc:\n%s", out)
	}

	// A Service manifest applies as with kubectl, and again unchanged.
	const named = `apiVersion: v1
kind: Service
metadata:
  name: web-named
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 8000
    targetPort: http
`
	if out := c.apply(named); !strings.Contains(out, "service/web-named created") {
		t.Errorf("apply: %q", out)
	}
	if out := c.apply(named); !strings.Contains(out, "service/web-named unchanged") {
		t.Errorf("second apply: %q", out)
	}

	fetch := func(url string) (string, error) {
		out, errOut, err := c.ctl("exec", "client", "--", "wget", "-q", "-O", "-", url) // busybox wget -T crashes (static build)
		if err != nil {
			return "", fmt.Errorf("%v: %s", err, errOut)
		}
		return strings.TrimSpace(out), nil
	}
	// Both backends answer on the ClusterIP (the rules may take a moment).
	seen := map[string]int{}
	c.waitFor("both backends behind "+ip.String(), 60*time.Second, func() (bool, string) {
		body, err := fetch("http://" + ip.String() + ":80/")
		if err == nil {
			seen[body]++
		}
		return seen["web-1"] > 0 && seen["web-2"] > 0, fmt.Sprintf("answers %v, last error %v", seen, err)
	})
	c.waitFor("web-named:8000", 30*time.Second, func() (bool, string) {
		body, err := fetch("http://web-named.default:8000/")
		return err == nil && (body == "web-1" || body == "web-2"), fmt.Sprintf("%q %v", body, err)
	})
	// By name: S, S.NS, S.NS.svc.cluster.local, through the pod's resolv.conf.
	if out := c.mustCtl("exec", "client", "--", "cat", "/etc/resolv.conf"); !strings.Contains(out, "search default.svc.cluster.local svc.cluster.local cluster.local") ||
		!strings.Contains(out, "options ndots:5") || !strings.Contains(out, "nameserver ") {
		t.Errorf("resolv.conf:\n%s", out)
	}
	for _, name := range []string{"web", "web.default", "web.default.svc.cluster.local"} {
		if body, err := fetch("http://" + name + "/"); err != nil || (body != "web-1" && body != "web-2") {
			t.Errorf("wget http://%s/: %q, %v", name, body, err)
		}
	}
	out, _, _ := c.ctl("exec", "client", "--", "busybox", "nslookup", "web.default.svc.cluster.local")
	if !strings.Contains(out, ip.String()) {
		t.Errorf("nslookup web.default.svc.cluster.local:\n%s", out)
	}
	out, errOut, err = c.ctl("exec", "client", "--", "busybox", "nslookup", "nosuch.default.svc.cluster.local")
	if err == nil || !strings.Contains(out+errOut, "NXDOMAIN") {
		t.Errorf("nslookup of an unknown name: %v\n%s%s", err, out, errOut)
	}
	if _, err := fetch("http://nosuch/"); err == nil {
		t.Errorf("wget of an unknown name succeeded")
	}

	// web-2 turns unready: it leaves the endpoints and the rotation.
	c.mustCtl("exec", "web-2", "--", "rm", "/tmp/ready")
	c.waitFor("web-2 out of the endpoints", 30*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "endpoints", "web")
		return regexp.MustCompile(`(?m)^web\s+[0-9.]+:8080\s+\d+s$`).MatchString(out), out
	})
	c.waitFor("only web-1 answers", 30*time.Second, func() (bool, string) {
		answers := map[string]int{}
		for range 8 {
			body, err := fetch("http://web/")
			if err != nil {
				answers[err.Error()]++
				continue
			}
			answers[body]++
		}
		if answers["web-1"] == 8 {
			return true, ""
		}
		lookup, errOut, _ := c.ctl("exec", "client", "--", "busybox", "nslookup", "web.default.svc.cluster.local")
		return false, fmt.Sprint(answers) + "\nnslookup:\n" + lookup + errOut
	})

	// The network plugin dies and is restarted: the agent sets the services
	// again, and later changes still reach it (web-2, ready again, is back
	// in the rotation).
	old := c.pluginPIDs()["network"]
	if old == 0 {
		t.Fatalf("no healthy network plugin:\n%s", c.mustCtl("plugin", "ls"))
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitFor("network plugin restarted", 30*time.Second, func() (bool, string) {
		pid := c.pluginPIDs()["network"]
		return pid != 0 && pid != old, c.mustCtl("plugin", "ls")
	})
	c.mustCtl("exec", "web-2", "--", "touch", "/tmp/ready")
	seen = map[string]int{}
	c.waitFor("both backends behind web after the plugin restart", 60*time.Second, func() (bool, string) {
		body, err := fetch("http://web/")
		if err == nil {
			seen[body]++
		}
		return seen["web-1"] > 0 && seen["web-2"] > 0, fmt.Sprintf("answers %v, last error %v", seen, err)
	})

	// The chapter: `kubectl expose pod redis --port 6379`.
	c.apply(backendPod("redis", "run: redis", 6379))
	c.waitPodPhase("redis", "Running", 60*time.Second)
	if out := c.mustCtl("expose", "pod", "redis", "--port", "6379"); strings.TrimSpace(out) != "service/redis exposed" {
		t.Errorf("expose redis said %q", out)
	}
	c.waitFor("redis:6379 answers", 60*time.Second, func() (bool, string) {
		body, err := fetch("http://redis:6379/")
		return err == nil && body == "redis", fmt.Sprintf("%q %v", body, err)
	})

	// Deleting the service deletes its endpoints.
	c.mustCtl("delete", "svc", "redis")
	c.waitFor("endpoints of redis gone", 30*time.Second, func() (bool, string) {
		out, errOut, err := c.ctl("get", "endpoints", "redis")
		return err != nil && strings.Contains(errOut, "NotFound") || strings.Contains(errOut, "not found"), out + errOut
	})
}
