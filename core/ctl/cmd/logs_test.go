package cmd

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func twoContainerPod() *corev1.Pod {
	p := pod("app", time.Minute, corev1.PodRunning)
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "app"}, {Name: "log-adapter", Image: "adapter"}}
	return p
}

func lastLogs(t *testing.T, e *env) *apipb.LogsRequest {
	t.Helper()
	var req *apipb.LogsRequest
	for _, r := range e.srv.Requests() {
		if l, ok := r.(*apipb.LogsRequest); ok {
			req = l
		}
	}
	if req == nil {
		t.Fatal("no logs request")
	}
	return req
}

func TestLogsSingleContainer(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodRunning))
	e.srv.LogText["default/nginx/nginx"] = "line 1\nline 2\n"
	e.run("logs", "nginx").expectOut(t, "line 1\nline 2\n")
	e.run("logs", "pod/nginx", "-c", "nginx", "-p", "--tail=5", "--timestamps", "-f").expectOut(t, "line 1\nline 2\n")
	req := lastLogs(t, e)
	want := &apipb.LogsRequest{Namespace: "default", Pod: "nginx", Container: "nginx", Follow: true, Previous: true, TailLines: 5, Timestamps: true}
	if req.Namespace != want.Namespace || req.Pod != want.Pod || req.Container != want.Container ||
		req.Follow != want.Follow || req.Previous != want.Previous || req.TailLines != want.TailLines || req.Timestamps != want.Timestamps {
		t.Errorf("request = %v", req)
	}
	e.run("logs", "nginx")
	if req := lastLogs(t, e); req.TailLines != -1 {
		t.Errorf("default tail = %d, want -1", req.TailLines)
	}
}

func TestLogsContainerSelection(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", twoContainerPod())
	e.srv.LogText["default/app/log-adapter"] = "adapted\n"
	r := e.run("logs", "app")
	if r.printed != "error: a container name must be specified for pod app, choose one of: [app log-adapter]\n" || r.code != 1 {
		t.Errorf("printed %q", r.printed)
	}
	e.run("logs", "app", "-c", "log-adapter").expectOut(t, "adapted\n")
	e.run("logs", "app", "log-adapter").expectOut(t, "adapted\n")

	r = e.run("logs", "app", "-c", "nope")
	if r.printed != "error: container nope is not valid for pod app\n" {
		t.Errorf("printed %q", r.printed)
	}

	withInit := twoContainerPod()
	withInit.Name = "init-app"
	withInit.Spec.InitContainers = []corev1.Container{{Name: "init-nginx", Image: "busybox"}}
	e.srv.Put("pods", withInit)
	r = e.run("logs", "init-app")
	if r.printed != "error: a container name must be specified for pod init-app, choose one of: [app log-adapter] or one of the init containers: [init-nginx]\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestLogsDefaultContainerAnnotation(t *testing.T) {
	e := newEnv(t)
	p := twoContainerPod()
	p.Annotations = map[string]string{DefaultContainerAnnotation: "log-adapter"}
	e.srv.Put("pods", p)
	e.srv.LogText["default/app/log-adapter"] = "adapted\n"
	e.run("logs", "app").expectOut(t, "adapted\n")
}

func TestLogsErrors(t *testing.T) {
	e := newEnv(t)
	r := e.run("logs", "ghost")
	if r.printed != "error: error from server (NotFound): pods \"ghost\" not found in namespace \"default\"\n" {
		t.Errorf("printed %q", r.printed)
	}
	r = e.run("logs")
	if r.printed != "error: expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command\nSee 'skiffctl logs -h' for help and examples\n" {
		t.Errorf("printed %q", r.printed)
	}
	e.srv.Put("pods", pod("nginx", time.Minute, corev1.PodPending))
	r = e.run("logs", "nginx")
	if r.printed != "Error from server (BadRequest): container \"nginx\" in pod \"nginx\" is waiting to start\n" {
		t.Errorf("printed %q", r.printed)
	}
}
