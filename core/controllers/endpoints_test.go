package controllers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
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
