package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/controllers"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
)

func TestRotationDeadline(t *testing.T) {
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(100 * time.Hour)
	for _, tc := range []struct {
		jitter float64
		want   time.Duration
	}{{0, 70 * time.Hour}, {0.5, 80 * time.Hour}, {0.999999, 90 * time.Hour}} {
		got := RotationDeadline(nb, na, tc.jitter).Sub(nb)
		if d := got - tc.want; d < -time.Second || d > time.Second {
			t.Errorf("jitter %v: rotate %v after NotBefore, want %v", tc.jitter, got, tc.want)
		}
	}
	// Random jitter stays within 70-90%.
	for range 1000 {
		got := RotationDeadline(nb, na, (&CertRotator{}).jitter())
		if got.Before(nb.Add(70*time.Hour)) || got.After(nb.Add(90*time.Hour)) {
			t.Fatalf("deadline %v outside 70-90%% of the lifetime", got.Sub(nb))
		}
	}
}

// rotatingNode is an agent's API client for node n1 with a rotator.
type rotatingNode struct {
	client *client.Client
	cert   *ClientCertificate
	rot    *CertRotator

	mu    sync.Mutex
	saved []pki.KeyPair
}

func newRotatingNode(t *testing.T, s *testapi.Server, pair pki.KeyPair) *rotatingNode {
	t.Helper()
	cc, err := NewClientCertificate(pair)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewRotatingClient(s.Addr, s.CA.CertPEM, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	n := &rotatingNode{client: c, cert: cc}
	n.rot = &CertRotator{NodeName: "n1", Client: c, Cert: cc, Poll: 20 * time.Millisecond, Save: func(kp pki.KeyPair) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.saved = append(n.saved, kp)
		return nil
	}}
	return n
}

func (n *rotatingNode) savedPairs() []pki.KeyPair {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]pki.KeyPair(nil), n.saved...)
}

// renewLease writes the node's Lease, as its heartbeat does.
func (n *rotatingNode) renewLease(ctx context.Context) error {
	now := metav1.NewMicroTime(time.Now())
	holder := "n1"
	l := &coordinationv1.Lease{TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: api.NodeLeaseNamespace}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &now}}
	var cur coordinationv1.Lease
	err := n.client.Get(ctx, api.Leases, api.NodeLeaseNamespace, "n1", &cur)
	switch {
	case err == nil:
		l.ResourceVersion = cur.ResourceVersion
		return n.client.Update(ctx, api.Leases, api.NodeLeaseNamespace, l, "")
	case apierrors.IsNotFound(err):
		return n.client.Create(ctx, api.Leases, api.NodeLeaseNamespace, l)
	}
	return err
}

// renewLeaseOnce is renewLease, tried again once when a rotation cut the
// connection under the call (it closes the connections, as the kubelet's
// does: a call in flight fails, the next one reconnects).
func (n *rotatingNode) renewLeaseOnce(ctx context.Context) error {
	err := n.renewLease(ctx)
	if apierrors.IsServiceUnavailable(err) { // the client's form of codes.Unavailable
		err = n.renewLease(ctx)
	}
	return err
}

func leafOf(t *testing.T, kp pki.KeyPair) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(kp.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// The server issues node certificates valid 4s; the agent renews its own
// through CSRs before each expires and keeps working past the first one's
// expiry, over new connections too.
func TestCertRotatorRenewsBeforeExpiry(t *testing.T) {
	s := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signing := *s.CA
	signing.ClientValidity = 4 * time.Second // --node-cert-ttl
	go (&controllers.CSRSigning{Client: s.Admin, CA: &signing}).Run(ctx)
	first, err := signing.IssueClient("system:node:n1", []string{pki.GroupNodes}) // as Join issues it
	if err != nil {
		t.Fatal(err)
	}
	firstLeaf := leafOf(t, first)
	if life := firstLeaf.NotAfter.Sub(firstLeaf.NotBefore); life > 5*time.Second {
		t.Fatalf("the first certificate lives %v, want about 4s", life)
	}
	n := newRotatingNode(t, s, first)
	go n.rot.Run(ctx)

	// The node heartbeats through two lifetimes of the first certificate.
	end := firstLeaf.NotAfter.Add(4 * time.Second)
	var firstRotation time.Time
	for time.Now().Before(end) {
		if err := n.renewLeaseOnce(ctx); err != nil {
			t.Fatalf("renew lease at %v after the first certificate's NotBefore: %v", time.Since(firstLeaf.NotBefore).Round(time.Millisecond), err)
		}
		if _, leaf := n.cert.Current(); firstRotation.IsZero() && !leaf.Equal(firstLeaf) {
			firstRotation = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	life := firstLeaf.NotAfter.Sub(firstLeaf.NotBefore)
	at := firstRotation.Sub(firstLeaf.NotBefore)
	if firstRotation.IsZero() || at < life*7/10 || at > life*9/10+time.Second {
		t.Errorf("first rotation %v after NotBefore, want within 70-90%% of %v", at, life)
	}
	saved := n.savedPairs()
	if len(saved) < 2 {
		t.Fatalf("%d rotations saved over two lifetimes, want at least 2", len(saved))
	}
	cur, leaf := n.cert.Current()
	if string(cur.CertPEM) != string(saved[len(saved)-1].CertPEM) {
		t.Errorf("the pair in use is not the last one saved")
	}
	if leaf.Subject.CommonName != "system:node:n1" || !time.Now().Before(leaf.NotAfter) {
		t.Errorf("current certificate %v valid until %v", leaf.Subject, leaf.NotAfter)
	}

	// New connections present the current certificate; the first one no
	// longer gets in.
	if err := n.cert.Rotate(cur); err != nil { // closes the connections
		t.Fatal(err)
	}
	if err := n.renewLeaseOnce(ctx); err != nil {
		t.Errorf("renew lease over a new connection: %v", err)
	}
	old := newRotatingNode(t, s, first)
	var l coordinationv1.Lease
	if err := old.client.Get(ctx, api.Leases, api.NodeLeaseNamespace, "n1", &l); err == nil {
		t.Errorf("the expired first certificate still authenticates")
	}

	// The requests are the node's, approved and issued.
	csrs, _, err := client.List[certificatesv1.CertificateSigningRequest](ctx, s.Admin, api.CertificateSigningRequests, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, csr := range csrs {
		if csr.Spec.Username != "system:node:n1" || !registry.CSRHasCondition(&csr, certificatesv1.CertificateApproved) ||
			csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
			t.Errorf("request %s: by %q, signer %s, conditions %+v", csr.Name, csr.Spec.Username, csr.Spec.SignerName, csr.Status.Conditions)
		}
	}
	if len(csrs) < len(saved) {
		t.Errorf("%d requests for %d rotations", len(csrs), len(saved))
	}
}

// certValid is a node certificate of ca valid from notBefore to notAfter.
func certValid(t *testing.T, ca *pki.CA, notBefore, notAfter time.Time) pki.KeyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: "system:node:n1", Organization: []string{pki.GroupNodes}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.KeyPair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}
}

// A certificate already past 90% of its lifetime (an agent started late)
// is renewed at once; one far from it is left alone.
func TestCertRotatorTiming(t *testing.T) {
	s := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&controllers.CSRSigning{Client: s.Admin, CA: s.CA}).Run(ctx)

	now := time.Now()
	late := newRotatingNode(t, s, certValid(t, s.CA, now.Add(-time.Hour), now.Add(5*time.Minute))) // 92% through
	go late.rot.Run(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for len(late.savedPairs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a certificate past its rotation point was not renewed within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, leaf := late.cert.Current(); time.Until(leaf.NotAfter) < 300*24*time.Hour {
		t.Errorf("renewed certificate expires %v, want the CA's default year", leaf.NotAfter)
	}

	early := newRotatingNode(t, s, certValid(t, s.CA, now.Add(-time.Minute), now.Add(time.Hour))) // 2% through
	rctx, rcancel := context.WithCancel(ctx)
	go early.rot.Run(rctx)
	time.Sleep(time.Second)
	rcancel()
	if n := len(early.savedPairs()); n != 0 {
		t.Errorf("a fresh certificate was renewed %d times", n)
	}
}

// A denied request is an error; the rotator tries again with a new one.
func TestCertRotatorDenied(t *testing.T) {
	s := testapi.Start(t)
	ctx := context.Background()
	kp, err := s.CA.IssueClient("system:node:n1", []string{pki.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	n := newRotatingNode(t, s, kp)
	errc := make(chan error, 1)
	go func() { errc <- n.rot.RotateOnce(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		csrs, _, err := client.List[certificatesv1.CertificateSigningRequest](ctx, s.Admin, api.CertificateSigningRequests, "", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(csrs) == 1 {
			csr := csrs[0]
			csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "NotToday"}}
			if err := s.Admin.Update(ctx, api.CertificateSigningRequests, "", &csr, registry.CSRApproval); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request made")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "Denied: NotToday") {
		t.Errorf("RotateOnce of a denied request: %v", err)
	}
	if len(n.savedPairs()) != 0 {
		t.Error("a denied request saved a certificate")
	}
}
