package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/ctl/manifest"
)

const nginxPod = `apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx
    ports:
    - containerPort: 80
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// defaultLive mimics server defaulting on a stored pod, so "unchanged"
// must ignore fields the manifest does not set.
func defaultLive(e *env, name string) {
	e.srv.Modify("pods", "default", name, func(obj map[string]any) {
		spec := obj["spec"].(map[string]any)
		spec["restartPolicy"] = "Always"
		c := spec["containers"].([]any)[0].(map[string]any)
		c["imagePullPolicy"] = "Always"
		c["terminationMessagePath"] = "/dev/termination-log"
		obj["status"] = map[string]any{"phase": "Pending"}
	})
}

func TestApplyCreateUnchangedConfigured(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "nginx-pod.yaml", nginxPod)

	e.run("apply", "-f", f).expectOut(t, "pod/nginx created\n")
	stored := e.srv.Object("pods", "default", "nginx")
	la := manifest.Annotation(stored, manifest.LastAppliedAnnotation)
	wantLA := `{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},"labels":{"app":"web"},"name":"nginx","namespace":"default"},"spec":{"containers":[{"image":"nginx","name":"nginx","ports":[{"containerPort":80}]}]}}` + "\n"
	if la != wantLA {
		t.Errorf("last-applied:\n%s\nwant:\n%s", la, wantLA)
	}

	defaultLive(e, "nginx")
	e.run("apply", "-f", f).expectOut(t, "pod/nginx unchanged\n")

	changed := strings.Replace(nginxPod, "image: nginx", "image: nginx:1.27", 1)
	changed = strings.Replace(changed, "app: web", "tier: front", 1)
	f2 := writeFile(t, dir, "nginx-pod.yaml", changed)
	before := e.srv.Object("pods", "default", "nginx")
	e.run("apply", "-f", f2).expectOut(t, "pod/nginx configured\n")

	// The update sent the stored object (its resourceVersion, the server's
	// defaults) with the new spec and labels.
	var upd *apipb.UpdateRequest
	for _, r := range e.srv.Requests() {
		if u, ok := r.(*apipb.UpdateRequest); ok {
			upd = u
		}
	}
	if upd == nil {
		t.Fatal("no update sent")
	}
	var sent map[string]any
	if err := json.Unmarshal(upd.Json, &sent); err != nil {
		t.Fatal(err)
	}
	md := sent["metadata"].(map[string]any)
	if md["resourceVersion"] != before["metadata"].(map[string]any)["resourceVersion"] {
		t.Errorf("resourceVersion %v not the stored one", md["resourceVersion"])
	}
	labels := md["labels"].(map[string]any)
	if labels["tier"] != "front" || labels["app"] != nil {
		t.Errorf("labels = %v, want tier=front only (app dropped: it was applied before)", labels)
	}
	c := sent["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if c["image"] != "nginx:1.27" || c["terminationMessagePath"] != "/dev/termination-log" {
		t.Errorf("container = %v", c)
	}
	if sent["status"] == nil {
		t.Error("status of the stored object dropped")
	}
	if got := manifest.Annotation(sent, manifest.LastAppliedAnnotation); !strings.Contains(got, `"image":"nginx:1.27"`) {
		t.Errorf("last-applied not updated: %s", got)
	}
}

func TestApplyMultiDocumentWithBadDocument(t *testing.T) {
	e := newEnv(t)
	docs := nginxPod + `---
apiVersion: v1
kind: Pod
metadata:
  name: broken
 spec: [
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: v1
kind: Pod
metadata:
  name: redis
spec:
  containers:
  - name: redis
    image: redis
`
	r := e.runStdin(docs, "apply", "-f", "-")
	if r.out != "pod/nginx created\npod/redis created\n" {
		t.Errorf("stdout:\n%s", r.out)
	}
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	lines := strings.Split(strings.TrimSpace(r.printed), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "error: error parsing STDIN (document 2): ") ||
		lines[1] != `error: resource mapping not found for name: "web" namespace: "" from "STDIN": no matches for kind "Deployment" in version "apps/v1"` {
		t.Errorf("printed:\n%s", r.printed)
	}
}

func TestApplyDirectoryAndNamespace(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFile(t, dir, "b.yaml", strings.Replace(nginxPod, "name: nginx\n", "name: b\n", 1))
	writeFile(t, dir, "a.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"a","image":"busybox"}]}}`)
	writeFile(t, dir, "notes.txt", "not a manifest")
	e.run("apply", "-f", dir, "-n", "prod").expectOut(t, "pod/a created\npod/b created\n")
	if e.srv.Object("pods", "prod", "a") == nil {
		t.Error("pod a not created in prod")
	}
	// A manifest naming another namespace than -n is refused.
	f := writeFile(t, dir, "other.yaml", strings.Replace(nginxPod, "name: nginx\n", "name: c\n  namespace: dev\n", 1))
	r := e.run("apply", "-f", f, "-n", "prod")
	if !strings.Contains(r.printed, `the namespace from the provided object "dev" does not match the namespace "prod"`) {
		t.Errorf("printed %q", r.printed)
	}
}

func TestApplyErrors(t *testing.T) {
	e := newEnv(t)
	r := e.run("apply")
	if !strings.HasPrefix(r.printed, "error: must specify one of -f and -k") {
		t.Errorf("printed %q", r.printed)
	}
	r = e.run("apply", "-f", "/does/not/exist.yaml")
	if r.printed != "error: the path \"/does/not/exist.yaml\" does not exist\n" {
		t.Errorf("printed %q", r.printed)
	}
	big := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: \"" + strings.Repeat("a", manifest.MaxDocumentSize) + "\"\n"
	r = e.runStdin(big, "apply", "-f", "-")
	if !strings.Contains(r.printed, "error parsing STDIN (document 1): the document is") || r.code != 1 {
		t.Errorf("printed %q", r.printed)
	}
	r = e.runStdin("kind: Pod\nmetadata:\n  name: x\n", "apply", "-f", "-")
	if r.printed != "error: unable to decode \"STDIN\" (document 1): Object 'apiVersion' is missing\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestApplyUpdateErrorFromServer(t *testing.T) {
	e := newEnv(t)
	e.runStdin(nginxPod, "apply", "-f", "-")
	e.srv.UpdateError = errInvalid("Pod", "nginx", "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`")
	r := e.runStdin(strings.Replace(nginxPod, "80", "8080", 1), "apply", "-f", "-")
	if r.printed != "The Pod \"nginx\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestApplyRetriesOnConflict(t *testing.T) {
	e := newEnv(t)
	e.runStdin(nginxPod, "apply", "-f", "-")
	raced := false
	e.srv.BeforeUpdate = func() {
		if !raced {
			raced = true // an agent writes status between our read and write
			e.srv.Modify("pods", "default", "nginx", func(obj map[string]any) {
				obj["status"] = map[string]any{"phase": "Running"}
			})
		}
	}
	e.runStdin(strings.Replace(nginxPod, "image: nginx", "image: nginx:1.27", 1), "apply", "-f", "-").
		expectOut(t, "pod/nginx configured\n")
	updates := 0
	for _, r := range e.srv.Requests() {
		if _, ok := r.(*apipb.UpdateRequest); ok {
			updates++
		}
	}
	if updates != 2 {
		t.Errorf("%d updates, want 2 (one conflict, one retry)", updates)
	}
	stored := e.srv.Object("pods", "default", "nginx")
	c := stored["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if c["image"] != "nginx:1.27" || stored["status"].(map[string]any)["phase"] != "Running" {
		t.Errorf("stored = %v", stored)
	}
}
