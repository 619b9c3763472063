package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func seedPods(e *env) {
	e.srv.Put("pods", pod("nginx", 26*time.Second, corev1.PodRunning, runningStatus("nginx", true)))
	e.srv.Put("pods", pod("nginx-1", 25*time.Second, corev1.PodPending, corev1.ContainerStatus{Name: "nginx-1",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}))
	other := pod("db", 3*time.Hour, corev1.PodRunning, runningStatus("db", true))
	other.Namespace = "prod"
	other.Status.PodIPs = []corev1.PodIP{{IP: "10.1.0.9"}}
	other.Spec.NodeName = "worker-1"
	e.srv.Put("pods", other)
}

func TestGetPods(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	e.run("get", "pods").expectOut(t, `NAME      READY   STATUS             RESTARTS   AGE
nginx     1/1     Running            0          26s
nginx-1   0/1     ImagePullBackOff   0          25s
`)
	// Aliases and the single-name form.
	e.run("get", "po", "nginx").expectOut(t, `NAME    READY   STATUS    RESTARTS   AGE
nginx   1/1     Running   0          26s
`)
	e.run("get", "pod/nginx").expectOut(t, `NAME    READY   STATUS    RESTARTS   AGE
nginx   1/1     Running   0          26s
`)
}

func TestGetPodsAllNamespacesAndWide(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	e.run("get", "pods", "-A").expectOut(t, `NAMESPACE   NAME      READY   STATUS             RESTARTS   AGE
default     nginx     1/1     Running            0          26s
default     nginx-1   0/1     ImagePullBackOff   0          25s
prod        db        1/1     Running            0          3h
`)
	e.run("get", "pods", "-n", "prod", "-o", "wide").expectOut(t, `NAME   READY   STATUS    RESTARTS   AGE   IP         NODE       NOMINATED NODE   READINESS GATES
db     1/1     Running   0          3h    10.1.0.9   worker-1   <none>           <none>
`)
	e.run("get", "pods", "--no-headers").expectOut(t, `nginx     1/1   Running            0     26s
nginx-1   0/1   ImagePullBackOff   0     25s
`)
}

func TestGetMultipleNamesAndMissing(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	r := e.run("get", "pod", "nginx", "ghost", "nginx-1")
	if r.out != `NAME      READY   STATUS             RESTARTS   AGE
nginx     1/1     Running            0          26s
nginx-1   0/1     ImagePullBackOff   0          25s
` {
		t.Errorf("stdout:\n%s", r.out)
	}
	if r.code != 1 || r.printed != "Error from server (NotFound): pods \"ghost\" not found\n" {
		t.Errorf("code %d, printed %q", r.code, r.printed)
	}
	r = e.run("get", "pod", "ghost", "--ignore-not-found")
	if r.err != nil || r.out != "" || r.errOut != "" {
		t.Errorf("--ignore-not-found: %+v", r)
	}
}

func TestGetEmpty(t *testing.T) {
	e := newEnv(t)
	r := e.run("get", "pods")
	if r.err != nil || r.out != "" || r.errOut != "No resources found in default namespace.\n" {
		t.Errorf("got %+v", r)
	}
	r = e.run("get", "pods", "-n", "prod")
	if r.errOut != "No resources found in prod namespace.\n" {
		t.Errorf("got %q", r.errOut)
	}
	r = e.run("get", "nodes")
	if r.err != nil || r.errOut != "No resources found\n" {
		t.Errorf("got %+v", r)
	}
	r = e.run("get", "pods", "-A")
	if r.errOut != "No resources found\n" {
		t.Errorf("got %q", r.errOut)
	}
}

func TestGetOutputName(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	e.run("get", "pods", "-o", "name").expectOut(t, "pod/nginx\npod/nginx-1\n")
}

func TestGetYAMLSingleObject(t *testing.T) {
	e := newEnv(t)
	p := pod("nginx", time.Minute, corev1.PodRunning)
	p.UID = "u1"
	e.srv.Put("pods", p)
	e.run("get", "pod", "nginx", "-o", "yaml").expectOut(t, `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2025-03-01T09:59:00Z"
  labels:
    run: nginx
  name: nginx
  namespace: default
  resourceVersion: "1"
  uid: u1
spec:
  containers:
  - image: nginx
    name: nginx
    resources: {}
status:
  phase: Running
`)
}

func TestGetJSONList(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("nodes", map[string]any{"metadata": map[string]any{"name": "n1", "uid": "u"}})
	// A list, even of one, prints as a v1 List; items get apiVersion/kind.
	e.run("get", "nodes", "-o", "json").expectOut(t, `{
    "apiVersion": "v1",
    "items": [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "creationTimestamp": "2025-03-01T10:00:00Z",
                "name": "n1",
                "resourceVersion": "1",
                "uid": "u"
            }
        }
    ],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    }
}
`)
}

func TestGetJSONPathAndCustomColumns(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	e.run("get", "pods", "-o", "jsonpath={.items[*].metadata.name}").expectOut(t, "nginx nginx-1")
	e.run("get", "pods", "-A", "-o", "custom-columns=NS:.metadata.namespace,NAME:.metadata.name,IP:.status.podIP").expectOut(t,
		`NS        NAME      IP
default   nginx     <none>
default   nginx-1   <none>
prod      db        <none>
`)
}

func TestGetNodesAndEvents(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("nodes", &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "skiff-control-plane", CreationTimestamp: ago(72 * time.Second),
			Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			NodeInfo: corev1.NodeSystemInfo{KubeletVersion: "v0.1.0"}},
	})
	e.run("get", "nodes").expectOut(t, `NAME                  STATUS   ROLES           AGE   VERSION
skiff-control-plane   Ready    control-plane   72s   v0.1.0
`)
	e.srv.Put("events", &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "nginx.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "nginx", Namespace: "default"},
		Type:           "Normal", Reason: "Scheduled", Message: "Successfully assigned default/nginx to skiff-control-plane",
		FirstTimestamp: ago(2 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 1,
		Source: corev1.EventSource{Component: "default-scheduler"},
	})
	e.run("get", "events").expectOut(t, `LAST SEEN   TYPE     REASON      OBJECT      MESSAGE
2m          Normal   Scheduled   pod/nginx   Successfully assigned default/nginx to skiff-control-plane
`)
	// Two kinds in one get: blank line between tables, names prefixed.
	r := e.run("get", "nodes,events")
	if !strings.Contains(r.out, "node/skiff-control-plane") || !strings.Contains(r.out, "\n\nLAST SEEN") {
		t.Errorf("multi-kind output:\n%s", r.out)
	}
}

func TestGetErrors(t *testing.T) {
	e := newEnv(t)
	r := e.run("get", "deployments")
	if r.printed != "error: the server doesn't have a resource type \"deployments\"\n" {
		t.Errorf("printed %q", r.printed)
	}
	r = e.run("get", "pods", "-o", "toml")
	if !strings.HasPrefix(r.printed, `error: unable to match a printer suitable for the output format "toml"`) {
		t.Errorf("printed %q", r.printed)
	}
	r = e.run("get", "pods", "nginx", "-l", "app=x")
	if r.printed != "error: name cannot be provided when a selector is specified\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestGetLabelSelector(t *testing.T) {
	e := newEnv(t)
	seedPods(e)
	e.run("get", "pods", "-l", "run=nginx", "-o", "name").expectOut(t, "pod/nginx\n")
}

func TestGetWatch(t *testing.T) {
	e := newEnv(t)
	p := pod("nginx", 0, corev1.PodPending, corev1.ContainerStatus{Name: "nginx",
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
	e.srv.Put("pods", p)
	e.srv.Put("pods", pod("other", 0, corev1.PodPending))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- e.runCtx(ctx, "", "get", "pod", "nginx", "-w") }()

	waitFor(t, func() bool { return watching(e) })
	e.srv.Modify("pods", "default", "other", func(obj map[string]any) {}) // not watched
	e.srv.Modify("pods", "default", "nginx", func(obj map[string]any) {
		obj["status"] = map[string]any{"phase": "Running", "containerStatuses": []any{map[string]any{
			"name": "nginx", "ready": true, "restartCount": 0, "image": "nginx", "imageID": "",
			"state": map[string]any{"running": map[string]any{"startedAt": "2025-03-01T09:59:59Z"}}}}}
	})
	e.srv.Remove("pods", "default", "nginx")
	waitFor(t, func() bool { return watchedEvents(e) >= 3 })
	time.Sleep(50 * time.Millisecond)
	cancel()
	r := <-done
	want := `NAME    READY   STATUS              RESTARTS   AGE
nginx   0/1     ContainerCreating   0          0s
nginx   1/1     Running             0          0s
nginx   1/1     Running             0          0s
`
	r.expectOut(t, want)
}

// watching reports whether a watch is open on the fake server.
func watching(e *env) bool { return e.srv.Watchers() > 0 }

func watchedEvents(e *env) int { return e.srv.EventsSent() }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
