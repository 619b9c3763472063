package cmd

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
)

// createdPod returns the pod of the last Create request.
func createdPod(t *testing.T, e *env) (*apipb.CreateRequest, corev1.Pod) {
	t.Helper()
	var req *apipb.CreateRequest
	for _, r := range e.srv.Requests() {
		if c, ok := r.(*apipb.CreateRequest); ok {
			req = c
		}
	}
	if req == nil {
		t.Fatal("no create request")
	}
	var p corev1.Pod
	if err := json.Unmarshal(req.Json, &p); err != nil {
		t.Fatal(err)
	}
	return req, p
}

func TestRunDefaults(t *testing.T) {
	e := newEnv(t)
	e.run("run", "nginx", "--image=nginx").expectOut(t, "pod/nginx created\n")
	req, p := createdPod(t, e)
	if req.Namespace != "default" || req.DryRun {
		t.Errorf("request ns=%q dryRun=%v", req.Namespace, req.DryRun)
	}
	want := corev1.PodSpec{
		Containers:    []corev1.Container{{Name: "nginx", Image: "nginx"}},
		DNSPolicy:     corev1.DNSClusterFirst,
		RestartPolicy: corev1.RestartPolicyAlways,
	}
	if !reflect.DeepEqual(p.Spec, want) {
		t.Errorf("spec = %+v\nwant %+v", p.Spec, want)
	}
	if !reflect.DeepEqual(p.Labels, map[string]string{"run": "nginx"}) || p.Name != "nginx" {
		t.Errorf("meta = %+v", p.ObjectMeta)
	}
}

func TestRunFlags(t *testing.T) {
	e := newEnv(t)
	e.run("run", "box", "--image=busybox:1.36", "--image-pull-policy=IfNotPresent", "--restart=Never",
		"--env", "A=1", "--env=B=x=y", "--labels", "app=box,tier=tools", "--port", "8080",
		"--annotations", "note=hi", "-n", "dev", "--", "sleep", "3600").expectOut(t, "pod/box created\n")
	req, p := createdPod(t, e)
	if req.Namespace != "dev" {
		t.Errorf("namespace %q", req.Namespace)
	}
	c := p.Spec.Containers[0]
	if c.Name != "box" || c.Image != "busybox:1.36" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("container = %+v", c)
	}
	if !reflect.DeepEqual(c.Args, []string{"sleep", "3600"}) || c.Command != nil {
		t.Errorf("args %q command %q", c.Args, c.Command)
	}
	if !reflect.DeepEqual(c.Env, []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}) {
		t.Errorf("env = %+v", c.Env)
	}
	if !reflect.DeepEqual(c.Ports, []corev1.ContainerPort{{ContainerPort: 8080}}) {
		t.Errorf("ports = %+v", c.Ports)
	}
	if p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restart = %q", p.Spec.RestartPolicy)
	}
	if !reflect.DeepEqual(p.Labels, map[string]string{"app": "box", "tier": "tools"}) || p.Annotations["note"] != "hi" {
		t.Errorf("labels %v annotations %v", p.Labels, p.Annotations)
	}

	e.run("run", "sh", "--image=busybox", "--command", "--", "sh", "-c", "echo hi").expectOut(t, "pod/sh created\n")
	_, p = createdPod(t, e)
	if c := p.Spec.Containers[0]; !reflect.DeepEqual(c.Command, []string{"sh", "-c", "echo hi"}) || c.Args != nil {
		t.Errorf("command %q args %q", c.Command, c.Args)
	}
}

func TestRunDryRun(t *testing.T) {
	e := newEnv(t)
	e.run("run", "nginx", "--image=nginx", "--dry-run=client", "-o", "yaml").expectOut(t, `apiVersion: v1
kind: Pod
metadata:
  labels:
    run: nginx
  name: nginx
spec:
  containers:
  - image: nginx
    name: nginx
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
`)
	if len(e.srv.Requests()) != 0 {
		t.Error("client dry run reached the server")
	}
	e.run("run", "nginx", "--image=nginx", "--dry-run=client").expectOut(t, "pod/nginx created (dry run)\n")
	e.run("run", "nginx", "--image=nginx", "--dry-run=server").expectOut(t, "pod/nginx created (server dry run)\n")
	if req, _ := createdPod(t, e); !req.DryRun {
		t.Error("server dry run not flagged")
	}
	if e.srv.Object("pods", "default", "nginx") != nil {
		t.Error("server dry run stored the pod")
	}
}

func TestRunErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--image=nginx"}, "error: NAME is required for run\n"},
		{[]string{"run", "x"}, "error: --image is required\n"},
		{[]string{"run", "x", "--image=NGINX"}, "error: invalid image name \"NGINX\": invalid reference format\n"},
		{[]string{"run", "x", "--image=nginx", "--restart=Sometimes"}, "error: invalid restart policy: Sometimes, valid values are: Always, OnFailure, Never\n"},
		{[]string{"run", "x", "--image=nginx", "--env=1A=b"}, "error: invalid env: 1A=b\n"},
		{[]string{"run", "x", "--image=nginx", "--port=http"}, "error: --port must be a number\n"},
		{[]string{"run", "x", "--image=nginx", "--labels=a"}, "error: unexpected label spec: a\n"},
		{[]string{"run", "x", "--image=nginx", "--dry-run=maybe"}, "error: Invalid dry-run value (maybe). Must be \"none\", \"server\", or \"client\".\n"},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.printed != tt.want || r.code != 1 {
			t.Errorf("%s: printed %q (code %d), want %q", strings.Join(tt.args, " "), r.printed, r.code, tt.want)
		}
	}
	e.run("run", "nginx", "--image=nginx")
	r := e.run("run", "nginx", "--image=nginx")
	if r.printed != "Error from server (AlreadyExists): pods \"nginx\" already exists\n" {
		t.Errorf("printed %q", r.printed)
	}
}
