package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/sdk/network"
)

func TestPeersAreOtherSetUpNodes(t *testing.T) {
	a := New(Config{NodeName: "n1", NodeIP: "10.0.0.1"})
	node := func(name, ip, cidr, mac string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{}}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
		if mac != "" {
			n.Annotations[AnnotationVTEPMAC] = mac
		}
		if ip != "" {
			n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
		}
		return n
	}
	a.peerSet.peers = map[string]network.Peer{}
	for _, n := range []*corev1.Node{
		node("n1", "10.0.0.1", "10.244.1.0/24", "aa:aa:aa:aa:aa:01"), // itself
		node("n3", "10.0.0.3", "10.244.3.0/24", "aa:aa:aa:aa:aa:03"),
		node("n2", "10.0.0.2", "10.244.2.0/24", "aa:aa:aa:aa:aa:02"),
		node("n4", "10.0.0.4", "", "aa:aa:aa:aa:aa:04"),      // no subnet yet
		node("n5", "10.0.0.5", "10.244.5.0/24", ""),          // no VTEP yet
		node("n6", "", "10.244.6.0/24", "aa:aa:aa:aa:aa:06"), // no address yet
	} {
		if p, other := a.peerOf(n); other {
			a.peerSet.peers[n.Name] = p
		} else if n.Name != "n1" {
			t.Errorf("%s taken for the node itself", n.Name)
		}
	}
	got := a.peerSet.list()
	want := []network.Peer{
		{NodeName: "n2", NodeIP: "10.0.0.2", PodCIDR: "10.244.2.0/24", VTEPMAC: "aa:aa:aa:aa:aa:02"},
		{NodeName: "n3", NodeIP: "10.0.0.3", PodCIDR: "10.244.3.0/24", VTEPMAC: "aa:aa:aa:aa:aa:03"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("peers %+v, want %+v", got, want)
	}
}
