package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// Exec, logs and port-forward find the pod in what the agent runs first
// (they must work while the API server is away), then ask the API server.
func TestPodByNameServesTheAgentsPodsFirst(t *testing.T) {
	srv := testapi.Start(t)
	ctx := context.Background()
	stored := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "stored"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	if err := srv.Admin.Create(ctx, api.Pods, "default", stored); err != nil {
		t.Fatal(err)
	}
	a := New(Config{NodeName: "n1", Client: srv.Admin})
	// Only the agent knows this one: the API server would say NotFound.
	a.pods["uid-1"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "running", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}}

	p, err := a.podByName(ctx, "default", "running")
	if err != nil || p.UID != "uid-1" || p.Spec.Containers[0].Name != "web" {
		t.Fatalf("running pod: %+v, %v", p, err)
	}
	p.Spec.Containers[0].Name = "changed"
	if a.pods["uid-1"].Spec.Containers[0].Name != "web" {
		t.Error("podByName handed out the agent's own copy")
	}
	if _, err := a.podByName(ctx, "other", "running"); !apierrors.IsNotFound(err) {
		t.Errorf("same name in another namespace: %v, want NotFound", err)
	}
	if p, err := a.podByName(ctx, "default", "stored"); err != nil || p.Name != "stored" {
		t.Errorf("pod the agent has not seen: %+v, %v", p, err)
	}
	if _, err := a.podByName(ctx, "default", "ghost"); !apierrors.IsNotFound(err) {
		t.Errorf("unknown pod: %v, want NotFound", err)
	}

	// A name held by a pod being deleted and one made since means the new
	// one; of two live ones (a delete not seen yet), the newer.
	now := metav1.Now()
	old := metav1.NewTime(now.Add(-time.Minute))
	a.pods["uid-old"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-old", CreationTimestamp: now, DeletionTimestamp: &now}}
	a.pods["uid-new"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-new", CreationTimestamp: old}}
	for range 20 { // map order varies
		if p, err := a.podByName(ctx, "default", "web"); err != nil || p.UID != "uid-new" {
			t.Fatalf("web, one being deleted: %v %v, want uid-new", p.UID, err)
		}
	}
	a.pods["uid-old"].DeletionTimestamp = nil
	for range 20 {
		if p, err := a.podByName(ctx, "default", "web"); err != nil || p.UID != "uid-old" {
			t.Fatalf("web, both live: %v %v, want the newer uid-old", p.UID, err)
		}
	}
}
