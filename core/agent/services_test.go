//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/sdk/network"
)

func TestDesiredServices(t *testing.T) {
	svc := func(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, Ports: ports}}
	}
	services := map[string]*corev1.Service{
		"default/web": svc("default", "web", "10.96.0.10", corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
			corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}),
		"default/db": svc("default", "db", "None"),
		"a/empty":    svc("a", "empty", "10.96.0.11", corev1.ServicePort{Port: 6379}),
		"a/pending":  svc("a", "pending", ""),
	}
	endpoints := map[string]*corev1.Endpoints{
		"default/web": {Subsets: []corev1.EndpointSubset{
			{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.3"}, {IP: "10.1.0.2"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.1.0.9"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "dns", Port: 5353}}},
			{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.4"}}, Ports: []corev1.EndpointPort{{Name: "http", Port: 8081}}},
		}},
		"default/db": {Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.1.0.5"}}}}},
	}
	want := []network.Service{
		{Namespace: "a", Name: "empty", ClusterIP: "10.96.0.11", Ports: []network.ServicePort{{Protocol: "TCP", Port: 6379}}},
		{Namespace: "default", Name: "db", ClusterIP: "None", Endpoints: []network.Endpoint{{IP: "10.1.0.5", Ports: map[string]int{}}}},
		{Namespace: "default", Name: "web", ClusterIP: "10.96.0.10",
			Ports: []network.ServicePort{{Name: "http", Protocol: "TCP", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}},
			Endpoints: []network.Endpoint{
				{IP: "10.1.0.2", Ports: map[string]int{"http": 8080, "dns": 5353}},
				{IP: "10.1.0.3", Ports: map[string]int{"http": 8080, "dns": 5353}},
				{IP: "10.1.0.4", Ports: map[string]int{"http": 8081}},
			}},
	}
	if got := DesiredServices(services, endpoints); !reflect.DeepEqual(got, want) {
		t.Errorf("DesiredServices:\n got %+v\nwant %+v", got, want)
	}
}

func TestResolvConf(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"}}
	got, err := ResolvConf(pod, "10.250.0.1", "")
	want := "nameserver 10.250.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if err != nil || string(got) != want {
		t.Errorf("ClusterFirst: %q, %v", got, err)
	}
	host := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := hostResolvConf
	hostResolvConf = host
	defer func() { hostResolvConf = old }()
	pod.Spec.DNSPolicy = corev1.DNSDefault
	if got, err := ResolvConf(pod, "10.250.0.1", ""); err != nil || string(got) != "nameserver 192.0.2.53\n" {
		t.Errorf("dnsPolicy Default: %q, %v", got, err)
	}
	pod.Spec.DNSPolicy = corev1.DNSClusterFirst
	if got, err := ResolvConf(pod, "", ""); err != nil || string(got) != "nameserver 192.0.2.53\n" {
		t.Errorf("no cluster DNS: %q, %v", got, err)
	}
}
