//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFormatEndpoints(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tcp := func(ports ...int32) []corev1.EndpointPort {
		var out []corev1.EndpointPort
		for _, p := range ports {
			out = append(out, corev1.EndpointPort{Port: p, Protocol: corev1.ProtocolTCP})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"no subsets", nil, "<none>"},
		{"only not-ready addresses", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.244.0.9"), Ports: tcp(80)}}, "<none>"},
		{"only not-ready addresses, headless", []corev1.EndpointSubset{{NotReadyAddresses: addrs("10.244.0.9")}}, "<none>"},
		{"ports but no addresses", []corev1.EndpointSubset{{Ports: tcp(80)}}, "<none>"},
		{"ready and not ready", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5"), NotReadyAddresses: addrs("10.244.0.9"), Ports: tcp(80)}}, "10.244.0.5:80"},
		{"headless", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5", "10.244.0.6")}}, "10.244.0.5,10.244.0.6"},
		{"ipv6", []corev1.EndpointSubset{{Addresses: addrs("fd00::5"), Ports: tcp(80)}}, "[fd00::5]:80"},
		{"two ports", []corev1.EndpointSubset{{Addresses: addrs("10.244.0.5"), Ports: tcp(80, 443)}}, "10.244.0.5:80,10.244.0.5:443"},
		{"more than three", []corev1.EndpointSubset{
			{Addresses: addrs("10.244.0.5", "10.244.0.6"), Ports: tcp(80)},
			{NotReadyAddresses: addrs("10.244.0.9"), Ports: tcp(80)},
			{Addresses: addrs("10.244.0.7", "10.244.0.8", "10.244.1.2"), Ports: tcp(8080)},
		}, "10.244.0.5:80,10.244.0.6:80,10.244.0.7:8080 + 2 more..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatEndpoints(&corev1.Endpoints{Subsets: tc.subsets}); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEndpointsTable(t *testing.T) {
	items := []corev1.Endpoints{
		{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Minute)},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "starting", CreationTimestamp: ago(time.Minute)},
			Subsets: []corev1.EndpointSubset{{NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.0.6"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "empty", CreationTimestamp: ago(time.Minute)}},
	}
	got := render(t, TableOptions{}, EndpointsTable(items, now))
	want := `NAME       ENDPOINTS       AGE
web        10.244.0.5:80   60s
starting   <none>          60s
empty      <none>          60s
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
