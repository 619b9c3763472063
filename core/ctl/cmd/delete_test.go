package cmd

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func lastDelete(t *testing.T, e *env) *apipb.DeleteRequest {
	t.Helper()
	var req *apipb.DeleteRequest
	for _, r := range e.srv.Requests() {
		if d, ok := r.(*apipb.DeleteRequest); ok {
			req = d
		}
	}
	if req == nil {
		t.Fatal("no delete request")
	}
	return req
}

func TestDeletePod(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodRunning))
	e.run("delete", "pod", "nginx").expectOut(t, "pod \"nginx\" deleted from default namespace\n")
	if req := lastDelete(t, e); req.GracePeriodSeconds != -1 || req.Force {
		t.Errorf("request = %+v", req)
	}
	if e.srv.Object("pods", "default", "nginx") != nil {
		t.Error("pod still stored")
	}
}

func TestDeleteWaitsForGracefulRemoval(t *testing.T) {
	e := newEnv(t)
	e.srv.GracefulPods = true
	e.srv.RemoveAfter = 150 * time.Millisecond
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodRunning))
	start := time.Now()
	e.run("delete", "pod", "nginx").expectOut(t, "pod \"nginx\" deleted from default namespace\n")
	if time.Since(start) < 150*time.Millisecond {
		t.Error("delete returned before the pod was gone")
	}
	if e.srv.Object("pods", "default", "nginx") != nil {
		t.Error("pod still stored")
	}

	// --wait=false returns while the pod is still terminating.
	e.srv.RemoveAfter = 0
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	e.run("delete", "pod", "web", "--wait=false").expectOut(t, "pod \"web\" deleted from default namespace\n")
	if e.srv.Object("pods", "default", "web") == nil {
		t.Error("graceful delete removed the pod at once")
	}
	// It shows as Terminating meanwhile.
	e.run("get", "pod", "web").expectOut(t, `NAME   READY   STATUS        RESTARTS   AGE
web    0/1     Terminating   0          60s
`)
	// A wait that cannot finish times out.
	r := e.run("delete", "pod", "web", "--timeout=100ms")
	if r.printed != "error: timed out waiting for the condition on pods/web\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestDeleteForce(t *testing.T) {
	e := newEnv(t)
	e.srv.GracefulPods = true
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodRunning))
	r := e.run("delete", "pod", "nginx", "--grace-period=0", "--force")
	r.expectOut(t, "pod \"nginx\" force deleted from default namespace\n")
	if r.errOut != "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.\n" {
		t.Errorf("stderr %q", r.errOut)
	}
	if req := lastDelete(t, e); req.GracePeriodSeconds != 0 || !req.Force {
		t.Errorf("request = %+v", req)
	}
	r = e.run("delete", "pod", "nginx", "--force", "--grace-period=5")
	if r.printed != "error: --force and --grace-period greater than 0 cannot be specified together\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestDeleteGracePeriodZeroWithoutForceBecomesOne(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodRunning))
	e.run("delete", "pod", "nginx", "--grace-period=0").expectOut(t, "pod \"nginx\" deleted from default namespace\n")
	if req := lastDelete(t, e); req.GracePeriodSeconds != 1 || req.Force {
		t.Errorf("request = %+v", req)
	}
}

func TestDeleteNotFoundAndAll(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", pod("a", time.Minute, corev1.PodRunning))
	e.srv.Put("pods", pod("b", time.Minute, corev1.PodRunning))
	r := e.run("delete", "pod", "ghost", "a")
	if r.out != "pod \"a\" deleted from default namespace\n" || r.printed != "Error from server (NotFound): pods \"ghost\" not found\n" || r.code != 1 {
		t.Errorf("got %+v", r)
	}
	e.run("delete", "pod", "ghost", "--ignore-not-found").expectOut(t, "No resources found\n")
	e.run("delete", "pods", "--all", "-o", "name").expectOut(t, "pod/b\n")
	e.run("delete", "pods", "--all").expectOut(t, "No resources found\n")
	r = e.run("delete", "pods")
	if r.printed != "error: resource(s) were provided, but no name was specified\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestDeleteFromFile(t *testing.T) {
	e := newEnv(t)
	e.runStdin(nginxPod, "apply", "-f", "-")
	f := writeFile(t, t.TempDir(), "nginx-pod.yaml", nginxPod)
	e.run("delete", "-f", f).expectOut(t, "pod \"nginx\" deleted from default namespace\n")
	r := e.run("delete", "-f", f)
	want := "Error from server (NotFound): error when deleting \"" + f + "\": pods \"nginx\" not found\n"
	if r.printed != want {
		t.Errorf("printed %q\nwant    %q", r.printed, want)
	}
	if !strings.Contains(e.run("delete").printed, "You must provide one or more resources") {
		t.Error("delete without arguments accepted")
	}
}
