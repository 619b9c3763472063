package printers

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestServiceAndConfigMapTables(t *testing.T) {
	svc := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "redis", CreationTimestamp: ago(time.Minute)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: []string{"10.96.0.12"},
			Selector: map[string]string{"run": "redis"},
			Ports:    []corev1.ServicePort{{Port: 6379, Protocol: corev1.ProtocolTCP}}},
	}
	got := render(t, TableOptions{Wide: true}, ServiceTable([]corev1.Service{svc}, now))
	want := `NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE   SELECTOR
redis   ClusterIP   10.96.0.12   <none>        6379/TCP   60s   run=redis
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	cm := corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "nginx-config", CreationTimestamp: ago(time.Hour)},
		Data: map[string]string{"a": "1", "b": "2"}}
	got = render(t, TableOptions{}, ConfigMapTable([]corev1.ConfigMap{cm}, now))
	want = `NAME           DATA   AGE
nginx-config   2      60m
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLeaseTable(t *testing.T) {
	holder := "kind-worker"
	l := coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kind-worker", Namespace: "kube-node-lease", CreationTimestamp: ago(2 * time.Minute)},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
	got := render(t, TableOptions{WithNamespace: true}, LeaseTable([]coordinationv1.Lease{l}, now))
	want := `NAMESPACE         NAME          HOLDER        AGE
kube-node-lease   kind-worker   kind-worker   2m
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
