package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

type env struct {
	*testapi.Server
	admin *client.Client
	ca    *pki.CA
	etcd  *embedetcd.Etcd
	addr  string
}

func start(t *testing.T) *env {
	s := testapi.Start(t)
	return &env{Server: s, admin: s.Admin, ca: s.CA, etcd: s.Etcd, addr: s.Addr}
}

func (e *env) clientAs(t *testing.T, user string, groups ...string) *client.Client {
	return e.ClientAs(t, user, groups...)
}

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}},
	}
}

func TestCreateGetUpdateIsCompareAndSwap(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	pod := newPod("web")
	if err := e.admin.Create(ctx, api.Pods, "default", pod); err != nil {
		t.Fatal(err)
	}
	if pod.UID == "" || pod.ResourceVersion == "" || pod.Namespace != "default" || pod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Fatalf("server did not fill metadata and defaults: %+v", pod.ObjectMeta)
	}
	if err := e.admin.Create(ctx, api.Pods, "default", newPod("web")); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	// The resourceVersion is the etcd revision of the key.
	kv, err := store.New(e.etcd.Client).Get(ctx, store.Key("pods", "default", "web"))
	if err != nil || store.FormatRevision(kv.Revision) != pod.ResourceVersion {
		t.Errorf("resourceVersion %s, etcd mod revision %d (%v)", pod.ResourceVersion, kv.Revision, err)
	}
	stale := pod.DeepCopy()
	pod.Labels["tier"] = "front"
	if err := e.admin.Update(ctx, api.Pods, "default", pod, ""); err != nil {
		t.Fatal(err)
	}
	stale.Labels["tier"] = "back"
	if err := e.admin.Update(ctx, api.Pods, "default", stale, ""); !apierrors.IsConflict(err) {
		t.Errorf("update at a stale resourceVersion: %v, want Conflict", err)
	}
	var got corev1.Pod
	if err := e.admin.Get(ctx, api.Pods, "default", "web", &got); err != nil || got.Labels["tier"] != "front" {
		t.Errorf("get: %v, labels %v", err, got.Labels)
	}
}

func TestInvalidObjectsAreNotStored(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	bad := newPod("Bad_Name")
	err := e.admin.Create(ctx, api.Pods, "default", bad)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("create: %v, want Invalid naming metadata.name", err)
	}
	raw := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i","bogus":1}]}}`)
	_, err = e.admin.API.Create(ctx, &apipb.CreateRequest{Resource: "pods", Namespace: "default", Json: raw})
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.containers[0].bogus"`) {
		t.Fatalf("create with unknown field: %v", err)
	}
	kvs, _, err := store.New(e.etcd.Client).List(ctx, store.Prefix)
	if err != nil || len(kvs) != 0 {
		t.Fatalf("store holds %d keys after refused creates (%v)", len(kvs), err)
	}
}

func TestWatchResumesFromRevision(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := newPod("a")
	if err := e.admin.Create(ctx, api.Pods, "default", a); err != nil {
		t.Fatal(err)
	}
	rev, _ := store.ParseRevision(a.ResourceVersion)
	if err := e.admin.Create(ctx, api.Pods, "default", newPod("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.Delete(ctx, api.Pods, "default", "a", client.DeleteOptions{GracePeriodSeconds: 0}); err != nil {
		t.Fatal(err)
	}
	// Resuming after a's creation must see b ADDED then a DELETED, and not a's creation.
	events, _, err := e.admin.Watch(ctx, api.Pods, "default", client.ListOptions{}, rev)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ev := range events {
		var p corev1.Pod
		_ = json.Unmarshal(ev.Object, &p)
		got = append(got, ev.Type+" "+p.Name)
		if len(got) == 2 {
			break
		}
	}
	if strings.Join(got, ",") != "ADDED b,DELETED a" {
		t.Errorf("events = %v", got)
	}
}

func TestWatchFiltersByField(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	events, _, err := e.admin.Watch(ctx, api.Pods, "", client.ListOptions{FieldSelector: "spec.nodeName=n1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := newPod("x")
	p.Spec.NodeName = "n2"
	_ = e.admin.Create(ctx, api.Pods, "default", p)
	q := newPod("y")
	q.Spec.NodeName = "n1"
	_ = e.admin.Create(ctx, api.Pods, "default", q)
	ev := <-events
	var got corev1.Pod
	_ = json.Unmarshal(ev.Object, &got)
	if got.Name != "y" {
		t.Errorf("first event is for %q, want y (field selector ignored)", got.Name)
	}
}

func TestGracefulDeleteOfBoundPod(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	p := newPod("bound")
	p.Spec.NodeName = "n1"
	if err := e.admin.Create(ctx, api.Pods, "default", p); err != nil {
		t.Fatal(err)
	}
	raw, err := e.admin.Delete(ctx, api.Pods, "default", "bound", client.DeleteOptions{GracePeriodSeconds: -1})
	if err != nil {
		t.Fatal(err)
	}
	var marked corev1.Pod
	_ = json.Unmarshal(raw, &marked)
	if marked.DeletionTimestamp == nil || *marked.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("bound pod not marked for graceful deletion: %+v", marked.ObjectMeta)
	}
	if _, err := e.admin.Delete(ctx, api.Pods, "default", "bound", client.DeleteOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.Get(ctx, api.Pods, "default", "bound", &marked); !apierrors.IsNotFound(err) {
		t.Errorf("after force delete: %v", err)
	}
}

func TestCredentialsAreRequired(t *testing.T) {
	e := start(t)
	// No client certificate: the TLS handshake fails.
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: e.ca.Pool()})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := apipb.NewSkiffClient(conn).Version(ctx, &apipb.VersionRequest{}); err == nil {
		t.Error("a client without a certificate was served")
	}
	// A certificate from another CA is refused too.
	other, _ := pki.LoadOrCreateCA(t.TempDir())
	kp, _ := other.IssueClient("mallory", []string{pki.GroupAdmins})
	cert, _ := kp.TLSCertificate()
	conn2, _ := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{cert}})))
	defer conn2.Close()
	if _, err := apipb.NewSkiffClient(conn2).Version(ctx, &apipb.VersionRequest{}); err == nil {
		t.Error("a client with a foreign certificate was served")
	}
	// A valid certificate without a role is authenticated but forbidden.
	nobody := e.clientAs(t, "nobody")
	var p corev1.Pod
	if err := nobody.Get(ctx, api.Pods, "default", "x", &p); !apierrors.IsForbidden(err) {
		t.Errorf("roleless user: %v, want Forbidden", err)
	}
	// Nodes may not load images.
	node := e.clientAs(t, "system:node:n1", pki.GroupNodes)
	if _, err := node.API.ListImages(ctx, &apipb.ListImagesRequest{}); err == nil || !strings.Contains(err.Error(), "may not call") {
		t.Errorf("node ListImages: %v, want PermissionDenied", err)
	}
}
