package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// A pod's ConfigMaps are read from the agent's watch of each, and a change
// (update, creation of a missing one, deletion) pokes the pods using it at
// once; objects no pod uses any more are no longer watched.
func TestConfigObjectsWatchWhatPodsUse(t *testing.T) {
	srv := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a := New(Config{NodeName: "n1", Client: srv.Admin})
	a.configs.start(ctx)
	const uid = types.UID("pod-1")
	w := newPodWorker(a, uid)
	a.workers[uid] = w

	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Data: map[string]string{"greeting": "v1"}}
	if err := srv.Admin.Create(ctx, api.ConfigMaps, "default", cm); err != nil {
		t.Fatal(err)
	}
	read := func(name string) (string, error) {
		var got corev1.ConfigMap
		err := a.configs.get(ctx, api.ConfigMaps, "default", name, uid, &got)
		return got.Data["greeting"], err
	}
	if v, err := read("app"); err != nil || v != "v1" {
		t.Fatalf("first read: %q, %v", v, err)
	}
	waitSynced := func(name string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a.configs.mu.Lock()
			o := a.configs.objs[configKey{resource: api.ConfigMaps.Name, namespace: "default", name: name}]
			synced := o != nil && o.synced
			a.configs.mu.Unlock()
			if synced {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the watch of configmap %q never had its state", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	drainPokes := func() {
		select {
		case <-w.trigger:
		default:
		}
	}
	wantPoke := func(what string) {
		t.Helper()
		select {
		case <-w.trigger:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the pod using it was not poked", what)
		}
	}
	waitSynced("app")
	drainPokes()

	// An update pokes the pod and is what the next read sees.
	cm.Data["greeting"] = "v2"
	if err := srv.Admin.Update(ctx, api.ConfigMaps, "default", cm, ""); err != nil {
		t.Fatal(err)
	}
	wantPoke("update")
	if v, err := read("app"); err != nil || v != "v2" {
		t.Errorf("after the update: %q, %v, want v2", v, err)
	}

	// A missing one is NotFound, and its creation pokes the pod.
	if _, err := read("later"); !apierrors.IsNotFound(err) {
		t.Fatalf("missing configmap: %v, want NotFound", err)
	}
	waitSynced("later")
	drainPokes()
	later := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "later"},
		Data: map[string]string{"greeting": "here"}}
	if err := srv.Admin.Create(ctx, api.ConfigMaps, "default", later); err != nil {
		t.Fatal(err)
	}
	wantPoke("creation")
	if v, err := read("later"); err != nil || v != "here" {
		t.Errorf("after its creation: %q, %v", v, err)
	}

	// Deletion pokes too, and reads say NotFound.
	drainPokes()
	if _, err := srv.Admin.Delete(ctx, api.ConfigMaps, "default", "app", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPoke("deletion")
	if _, err := read("app"); !apierrors.IsNotFound(err) {
		t.Errorf("after its deletion: %v, want NotFound", err)
	}

	if n := a.configs.watched(); n != 2 {
		t.Errorf("watching %d objects, want 2", n)
	}
	a.configs.release(uid)
	if n := a.configs.watched(); n != 0 {
		t.Errorf("after the pod went: watching %d objects, want 0", n)
	}
}
