package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

// asUser is ctx as a call authenticated by a certificate of ca for user.
func asUser(t *testing.T, ca *pki.CA, user string, groups ...string) context.Context {
	t.Helper()
	kp, err := ca.IssueClient(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}})
}

// The window between the node authorizer and the verb: node a is allowed
// to update the status of its pod p; before the update is written, p is
// deleted and made again under the same name on node b. The update must
// not land on b's pod.
func TestPodRecreatedBetweenAuthorizationAndWrite(t *testing.T) {
	dir := t.TempDir()
	e, err := embedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServer("skiff-apiserver", []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Store: store.New(e.Client), CA: ca, ServingCert: serving, AgentClientCert: serving})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	admin, nodeA := asUser(t, ca, "admin", pki.GroupAdmins), asUser(t, ca, "system:node:a", pki.GroupNodes)
	// makePod makes p on node, deleting the one there is, and returns
	// node a's status update of it, naming the version read when rv.
	makePod := func(node string, rv bool) []byte {
		t.Helper()
		_, _ = s.objects.delete(admin, &apipb.DeleteRequest{Resource: api.Pods.Name, Namespace: "default", Name: "p", Force: true})
		data, _ := json.Marshal(&corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}}}})
		obj, err := s.objects.create(admin, &apipb.CreateRequest{Resource: api.Pods.Name, Namespace: "default", Json: data})
		if err != nil {
			t.Fatal(err)
		}
		pod := obj.(*corev1.Pod)
		pod.Status.Phase = corev1.PodFailed
		if !rv {
			pod.ResourceVersion = ""
		}
		body, _ := json.Marshal(pod)
		return body
	}
	update := func(body []byte) error {
		_, err := s.objects.update(nodeA, &apipb.UpdateRequest{Resource: api.Pods.Name, Namespace: "default", Json: body, Subresource: "status"})
		return err
	}
	wantUntouched := func() {
		t.Helper()
		_, obj, err := s.objects.get(admin, api.Pods.Name, "default", "p")
		if err != nil {
			t.Fatal(err)
		}
		if p := obj.(*corev1.Pod); p.Spec.NodeName != "b" || p.Status.Phase == corev1.PodFailed {
			t.Errorf("b's pod: node %q phase %q: node a wrote its status", p.Spec.NodeName, p.Status.Phase)
		}
	}

	// An update that does not name the version would be written to
	// whatever pod p is when the verb reads it: refused.
	body := makePod("a", false)
	err = s.authorizeObjects(nodeA, verbUpdate, api.Pods.Name, "default", "", "status", body)
	if !apierrors.IsForbidden(err) {
		t.Errorf("an update without resourceVersion: %v, want Forbidden", err)
	}
	if err == nil {
		makePod("b", true)
		_ = update(body)
		wantUntouched()
	}

	// One that names it is a compare-and-swap on the pod authorized.
	body = makePod("a", true)
	if err := s.authorizeObjects(nodeA, verbUpdate, api.Pods.Name, "default", "", "status", body); err != nil {
		t.Fatalf("node a updates its own pod: %v", err)
	}
	makePod("b", true)
	if err := update(body); !apierrors.IsConflict(err) {
		t.Errorf("the authorized update, after the pod was made again on b: %v, want Conflict", err)
	}
	wantUntouched()
}
