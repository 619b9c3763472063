package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func lastCreate(t *testing.T, e *env, into any) *apipb.CreateRequest {
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
	if err := json.Unmarshal(req.Json, into); err != nil {
		t.Fatal(err)
	}
	return req
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCreateConfigMap(t *testing.T) {
	e := newEnv(t)
	dir := writeFiles(t, map[string]string{"nginx.conf": "stream {}\n", "app.properties": "a=1\n", ".hidden": "x", "bad name!": "y"})
	single := writeFiles(t, map[string]string{"f.txt": "file", "bin": "\xff\xfe"})
	e.run("create", "configmap", "my-config", "--from-literal=host=redis", "--from-literal", "url=a=b",
		"--from-file="+dir, "--from-file=renamed="+filepath.Join(single, "f.txt"), "--from-file="+filepath.Join(single, "bin"), "-n", "dev").
		expectOut(t, "configmap/my-config created\n")
	var cm corev1.ConfigMap
	req := lastCreate(t, e, &cm)
	if req.Resource != "configmaps" || req.Namespace != "dev" || req.DryRun {
		t.Errorf("request %s in %q dryRun=%v", req.Resource, req.Namespace, req.DryRun)
	}
	want := map[string]string{"host": "redis", "url": "a=b", "nginx.conf": "stream {}\n", "app.properties": "a=1\n", ".hidden": "x", "renamed": "file"}
	if !reflect.DeepEqual(cm.Data, want) {
		t.Errorf("data = %v\nwant %v", cm.Data, want)
	}
	if !reflect.DeepEqual(cm.BinaryData, map[string][]byte{"bin": []byte("\xff\xfe")}) {
		t.Errorf("binaryData = %v", cm.BinaryData)
	}
	// The alias works as in kubectl.
	e.run("create", "cm", "other", "--from-literal=a=1").expectOut(t, "configmap/other created\n")
}

func TestCreateDryRunYAML(t *testing.T) {
	e := newEnv(t)
	e.run("create", "configmap", "redis-config", "--from-literal=host=redis", "--from-literal=port=6379", "--dry-run=client", "-o", "yaml").
		expectOut(t, `apiVersion: v1
data:
  host: redis
  port: "6379"
kind: ConfigMap
metadata:
  name: redis-config
`)
	e.run("create", "secret", "generic", "redis-secret", "--from-literal=redis-secret=SET secret foobar\n", "--dry-run=client", "-o", "yaml").
		expectOut(t, `apiVersion: v1
data:
  redis-secret: U0VUIHNlY3JldCBmb29iYXIK
kind: Secret
metadata:
  name: redis-secret
`)
	e.run("create", "secret", "generic", "s", "--from-literal=a=b", "--dry-run=client").expectOut(t, "secret/s created (dry run)\n")
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("--dry-run=client sent %d requests", n)
	}
	e.run("create", "secret", "generic", "s", "--from-literal=a=b", "--dry-run=server").expectOut(t, "secret/s created (server dry run)\n")
	var s corev1.Secret
	if req := lastCreate(t, e, &s); !req.DryRun {
		t.Error("--dry-run=server did not ask for a dry run")
	}
}

func TestCreateSecretGeneric(t *testing.T) {
	e := newEnv(t)
	dir := writeFiles(t, map[string]string{"password": "s3cr3t", "env": "# comment\nUSER=admin\n\nPORT=5432\n"})
	e.run("create", "secret", "generic", "db", "--from-literal=user=admin", "--from-file="+filepath.Join(dir, "password"),
		"--from-env-file="+filepath.Join(dir, "env"), "--type=Opaque").expectOut(t, "secret/db created\n")
	var s corev1.Secret
	req := lastCreate(t, e, &s)
	if req.Resource != "secrets" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("resource %q type %q", req.Resource, s.Type)
	}
	want := map[string][]byte{"user": []byte("admin"), "password": []byte("s3cr3t"), "USER": []byte("admin"), "PORT": []byte("5432")}
	if !reflect.DeepEqual(s.Data, want) {
		t.Errorf("data = %q", s.Data)
	}
	if !strings.Contains(string(req.Json), `"password":"czNjcjN0"`) {
		t.Errorf("data is not base64 on the wire: %s", req.Json)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	dir := writeFiles(t, map[string]string{"a": "1"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "configmap", "c", "--from-literal=novalue"}, "invalid literal source novalue, expected key=value"},
		{[]string{"create", "configmap", "c", "--from-literal=a=1", "--from-literal=a=2"}, `cannot add key "a", another key by that name already exists in Data for ConfigMap "c"`},
		{[]string{"create", "configmap", "c", "--from-literal=a/b=1"}, `"a/b" is not valid key name for a ConfigMap`},
		{[]string{"create", "configmap", "c", "--from-file=k=" + dir}, "cannot give a key name for a directory path"},
		{[]string{"create", "configmap", "c", "--from-file=" + filepath.Join(dir, "missing")}, "error reading"},
		{[]string{"create", "secret", "generic", "s", "--type=kubernetes.io/tls"}, `secret type "kubernetes.io/tls": not supported by skiff`},
		{[]string{"create", "secret", "tls", "s"}, "skiffctl supports generic"},
		{[]string{"create", "configmap"}, "exactly one NAME is required"},
		{[]string{"create", "deployment", "d"}, `unknown resource type "deployment"`},
		{[]string{"create", "configmap", "c", "-o", "wide"}, "unable to match a printer"},
	} {
		r := e.run(tc.args...)
		if r.err == nil || !strings.Contains(r.printed, tc.want) {
			t.Errorf("%v: error %v (printed %q), want %q", tc.args, r.err, r.printed, tc.want)
		}
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Fatalf("failed creates sent %d requests", n)
	}
}

func TestDescribeConfigMapAndSecret(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("configmaps", &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis-config", Namespace: "default"},
		Data:       map[string]string{"host": "redis"},
	})
	e.srv.Put("secrets", &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis-secret", Namespace: "default"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"redis-secret": []byte("SET secret foobar\n")},
	})
	e.run("describe", "cm", "redis-config").expectOut(t, `Name:         redis-config
Namespace:    default
Labels:       <none>
Annotations:  <none>

Data
====
host:
----
redis

BinaryData
====

Events:  <none>
`)
	r := e.run("describe", "secret", "redis-secret")
	r.expectOut(t, `Name:         redis-secret
Namespace:    default
Labels:       <none>
Annotations:  <none>

Type:  Opaque

Data
====
redis-secret:  18 bytes
`)
	rows := e.run("get", "secrets")
	if !strings.Contains(rows.out, "NAME           TYPE     DATA   AGE\nredis-secret   Opaque   1      ") {
		t.Errorf("get secrets:\n%s", rows.out)
	}
	rows = e.run("get", "configmaps")
	if !strings.Contains(rows.out, "NAME           DATA   AGE\nredis-config   1      ") {
		t.Errorf("get configmaps:\n%s", rows.out)
	}
	e.run("delete", "cm", "redis-config").expectOut(t, "configmap \"redis-config\" deleted from default namespace\n")
	e.run("delete", "secret", "redis-secret").expectOut(t, "secret \"redis-secret\" deleted from default namespace\n")
	if r := e.run("get", "secret", "redis-secret"); r.err == nil || !strings.Contains(r.printed, `secrets "redis-secret" not found`) {
		t.Errorf("get after delete: %+v", r)
	}
}

// The README's `create ... --from-file` commands, run in examples/chapter,
// make the same objects as the chapter's manifests there.
func TestChapterFilesMakeTheChaptersObjects(t *testing.T) {
	const dir = "../../../examples/chapter"
	e := newEnv(t)
	fromManifest := func(file string, into any) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	fromCommand := func(into any, args ...string) {
		t.Helper()
		r := e.run(append(args, "--dry-run=client", "-o", "json")...)
		if r.err != nil {
			t.Fatalf("skiffctl %s: %v", strings.Join(args, " "), r.err)
		}
		if err := json.Unmarshal([]byte(r.out), into); err != nil {
			t.Fatal(err)
		}
	}
	var cmWant, cmGot corev1.ConfigMap
	fromManifest("nginx-config-map.yaml", &cmWant)
	fromCommand(&cmGot, "create", "configmap", "nginx-config", "--from-file="+filepath.Join(dir, "nginx.conf"))
	if !reflect.DeepEqual(cmGot.Data, cmWant.Data) {
		t.Errorf("configmap from nginx.conf:\n%q\nthe manifest's:\n%q", cmGot.Data, cmWant.Data)
	}
	var sWant, sGot corev1.Secret
	fromManifest("redis-secret.yaml", &sWant)
	fromCommand(&sGot, "create", "secret", "generic", "redis-secret", "--from-file=redis-secret="+filepath.Join(dir, "init.redis"))
	if !reflect.DeepEqual(sGot.Data, sWant.Data) {
		t.Errorf("secret from init.redis:\n%q\nthe manifest's:\n%q", sGot.Data, sWant.Data)
	}
}
