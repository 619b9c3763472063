//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package controllers

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

func epPod(name, ip string, ready bool, ports ...corev1.ContainerPort) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + "name", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Ports: ports}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func TestEndpointSubsets(t *testing.T) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
			{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)},
		}},
	}
	a := epPod("a", "10.1.0.3", true, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	b := epPod("b", "10.1.0.2", true, corev1.ContainerPort{Name: "http", ContainerPort: 8080})
	c := epPod("c", "10.1.0.4", false, corev1.ContainerPort{Name: "http", ContainerPort: 8081})
	noIP := epPod("d", "", true)
	done := epPod("e", "10.1.0.5", false)
	done.Status.Phase = corev1.PodSucceeded
	terminating := epPod("f", "10.1.0.6", true)
	terminating.DeletionTimestamp = &metav1.Time{}

	got := EndpointSubsets(svc, []*corev1.Pod{a, b, c, noIP, done, terminating})
	if len(got) != 2 {
		t.Fatalf("subsets: %+v", got)
	}
	// Grouped by resolved ports; sorted.
	s0, s1 := got[0], got[1]
	if len(s0.Addresses) != 2 || s0.Addresses[0].IP != "10.1.0.2" || s0.Addresses[1].IP != "10.1.0.3" || len(s0.NotReadyAddresses) != 0 ||
		s0.Ports[0].Port != 8080 || s0.Ports[1].Port != 9100 {
		t.Errorf("first subset: %+v", s0)
	}
	if len(s1.Addresses) != 0 || len(s1.NotReadyAddresses) != 1 || s1.NotReadyAddresses[0].IP != "10.1.0.4" || s1.Ports[0].Port != 8081 {
		t.Errorf("second subset: %+v", s1)
	}
	if r := s0.Addresses[0].TargetRef; r == nil || r.Kind != "Pod" || r.Name != "b" || s0.Addresses[0].NodeName == nil || *s0.Addresses[0].NodeName != "n1" {
		t.Errorf("address refs: %+v", s0.Addresses[0])
	}
	// A pod without the named port serves only the numbered one.
	plain := epPod("g", "10.1.0.7", true)
	got = EndpointSubsets(svc, []*corev1.Pod{plain})
	if len(got) != 1 || len(got[0].Ports) != 1 || got[0].Ports[0].Name != "metrics" {
		t.Errorf("pod without named port: %+v", got)
	}
	if got := EndpointSubsets(svc, nil); got != nil {
		t.Errorf("no pods: %+v", got)
	}
}

// The controller against a real API server: Endpoints follow pod readiness
// and labels, and go with the service.
func TestEndpointsController(t *testing.T) {
	s := testapi.Start(t)
	c := s.Admin
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&Endpoints{Client: c, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(ctx)

	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	if err := c.Create(ctx, api.Services, "default", svc); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	if err := c.Create(ctx, api.Pods, "default", pod); err != nil {
		t.Fatal(err)
	}
	waitEndpoints := func(what string, ok func(*corev1.Endpoints, error) bool) {
		t.Helper()
		var ep corev1.Endpoints
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			ep = corev1.Endpoints{}
			err = c.Get(ctx, api.Endpoints, "default", "web", &ep)
			if ok(&ep, err) {
				return
			}
		}
		t.Fatalf("%s: endpoints %+v, %v", what, ep.Subsets, err)
	}
	// No IP yet: an Endpoints object without subsets, with the service's labels.
	waitEndpoints("created", func(ep *corev1.Endpoints, err error) bool {
		return err == nil && len(ep.Subsets) == 0 && ep.Labels["tier"] == "front"
	})
	setStatus := func(ready corev1.ConditionStatus) {
		t.Helper()
		if err := c.Get(ctx, api.Pods, "default", "a", pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.1.0.2",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}}
		if err := c.Update(ctx, api.Pods, "default", pod, "status"); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(corev1.ConditionFalse)
	waitEndpoints("not ready", func(ep *corev1.Endpoints, err error) bool {
		return err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 0 &&
			len(ep.Subsets[0].NotReadyAddresses) == 1 && ep.Subsets[0].Ports[0].Port == 8080
	})
	setStatus(corev1.ConditionTrue)
	waitEndpoints("ready", func(ep *corev1.Endpoints, err error) bool {
		return err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == "10.1.0.2"
	})
	// Relabelled away from the selector: out.
	if err := c.Get(ctx, api.Pods, "default", "a", pod); err != nil {
		t.Fatal(err)
	}
	pod.Labels = map[string]string{"app": "other"}
	if err := c.Update(ctx, api.Pods, "default", pod, ""); err != nil {
		t.Fatal(err)
	}
	waitEndpoints("relabelled", func(ep *corev1.Endpoints, err error) bool { return err == nil && len(ep.Subsets) == 0 })
	if _, err := c.Delete(ctx, api.Services, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints("deleted with the service", func(_ *corev1.Endpoints, err error) bool { return apierrors.IsNotFound(err) })
}
