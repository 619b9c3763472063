package controllers

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
)

func newCSR(t *testing.T, name, signer, cn string, groups []string, seconds int32) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	req, _, err := pki.NewClientRequest(cn, groups)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: "certificates.k8s.io/v1", Kind: "CertificateSigningRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: signer,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
	}
	if seconds > 0 {
		csr.Spec.ExpirationSeconds = &seconds
	}
	return csr
}

func create(t *testing.T, c *client.Client, csr *certificatesv1.CertificateSigningRequest) {
	t.Helper()
	if err := c.Create(context.Background(), api.CertificateSigningRequests, "", csr); err != nil {
		t.Fatalf("create %s: %v", csr.Name, err)
	}
}

// waitCSR waits until cond holds for the named request.
func waitCSR(t *testing.T, c *client.Client, name, what string, cond func(*certificatesv1.CertificateSigningRequest) bool) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var csr certificatesv1.CertificateSigningRequest
		err := c.Get(context.Background(), api.CertificateSigningRequests, "", name, &csr)
		if err == nil && cond(&csr) {
			return &csr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: not within 10s (%v): %+v", name, what, err, csr.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func issued(csr *certificatesv1.CertificateSigningRequest) bool {
	return len(csr.Status.Certificate) > 0
}

func parseIssued(t *testing.T, csr *certificatesv1.CertificateSigningRequest) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(csr.Status.Certificate)
	if block == nil {
		t.Fatalf("%s: no PEM certificate", csr.Name)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCSRSigningApprovesSelfRenewalsAndSigns(t *testing.T) {
	s := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca := *s.CA
	ca.ClientValidity = time.Hour // --node-cert-ttl
	go (&CSRSigning{Client: s.Admin, CA: &ca}).Run(ctx)
	nodeA := s.ClientAs(t, "system:node:a", pki.GroupNodes)
	kubelet, plain := certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeAPIServerClientSignerName
	nodes := []string{pki.GroupNodes}

	// A node's own renewal: approved as Kubernetes does, signed with the
	// CA for the policy's lifetime, or less when asked.
	for _, tc := range []struct {
		name    string
		seconds int32
		want    time.Duration
	}{{"csr-policy", 0, time.Hour}, {"csr-shorter", 600, 10 * time.Minute}, {"csr-longer", 7200, time.Hour}} {
		t0 := time.Now()
		create(t, nodeA, newCSR(t, tc.name, kubelet, "system:node:a", nodes, tc.seconds))
		csr := waitCSR(t, s.Admin, tc.name, "issued", issued)
		var approved *certificatesv1.CertificateSigningRequestCondition
		for i := range csr.Status.Conditions {
			if csr.Status.Conditions[i].Type == certificatesv1.CertificateApproved {
				approved = &csr.Status.Conditions[i]
			}
		}
		if approved == nil || approved.Status != corev1.ConditionTrue || approved.Reason != "AutoApproved" || approved.LastUpdateTime.IsZero() {
			t.Errorf("%s: conditions %+v, want Approved True AutoApproved", tc.name, csr.Status.Conditions)
		}
		cert := parseIssued(t, csr)
		if cert.Subject.CommonName != "system:node:a" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != pki.GroupNodes {
			t.Errorf("%s: subject %v", tc.name, cert.Subject)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: s.CA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: not a client certificate of the CA: %v", tc.name, err)
		}
		if cert.KeyUsage != x509.KeyUsageDigitalSignature || cert.IsCA {
			t.Errorf("%s: key usage %v, CA %v", tc.name, cert.KeyUsage, cert.IsCA)
		}
		if life := cert.NotAfter.Sub(t0); life < tc.want-5*time.Second || life > tc.want+5*time.Second {
			t.Errorf("%s: valid %v from its request, want %v", tc.name, life, tc.want)
		}
		req, err := pki.ParseRequest(csr.Spec.Request)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(req.PublicKey) != fmt.Sprint(cert.PublicKey) {
			t.Errorf("%s: the certificate is not for the request's key", tc.name)
		}
	}

	// Not a node asking for itself: an admin decides.
	create(t, s.Admin, newCSR(t, "csr-for-c", kubelet, "system:node:c", nodes, 0))
	create(t, s.Admin, newCSR(t, "csr-jane", plain, "jane", []string{"dev"}, 0))
	create(t, s.Admin, newCSR(t, "csr-eve", plain, "eve", nil, 0))
	create(t, nodeA, newCSR(t, "csr-marker", kubelet, "system:node:a", nodes, 0))
	waitCSR(t, s.Admin, "csr-marker", "issued", issued) // the others were seen before it
	for _, name := range []string{"csr-for-c", "csr-jane"} {
		waitCSR(t, s.Admin, name, "pending", func(c *certificatesv1.CertificateSigningRequest) bool {
			return len(c.Status.Conditions) == 0 && !issued(c)
		})
	}
	decide := func(name string, typ certificatesv1.RequestConditionType) {
		t.Helper()
		var csr certificatesv1.CertificateSigningRequest
		if err := s.Admin.Get(ctx, api.CertificateSigningRequests, "", name, &csr); err != nil {
			t.Fatal(err)
		}
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, Reason: "Test"})
		if err := s.Admin.Update(ctx, api.CertificateSigningRequests, "", &csr, registry.CSRApproval); err != nil {
			t.Fatal(err)
		}
	}
	decide("csr-jane", certificatesv1.CertificateApproved)
	if cert := parseIssued(t, waitCSR(t, s.Admin, "csr-jane", "issued once approved", issued)); cert.Subject.CommonName != "jane" {
		t.Errorf("jane's certificate: %v", cert.Subject)
	}
	decide("csr-eve", certificatesv1.CertificateDenied)
	create(t, nodeA, newCSR(t, "csr-marker2", kubelet, "system:node:a", nodes, 0))
	waitCSR(t, s.Admin, "csr-marker2", "issued", issued)
	waitCSR(t, s.Admin, "csr-eve", "denied, not issued", func(c *certificatesv1.CertificateSigningRequest) bool {
		return registry.CSRHasCondition(c, certificatesv1.CertificateDenied) && !issued(c)
	})
}

// A request the signer cannot sign fails, as Kubernetes' signer reports it.
func TestCSRSigningFailure(t *testing.T) {
	s := testapi.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keyless := &pki.CA{Cert: s.CA.Cert, CertPEM: s.CA.CertPEM}
	go (&CSRSigning{Client: s.Admin, CA: keyless}).Run(ctx)
	create(t, s.ClientAs(t, "system:node:a", pki.GroupNodes), newCSR(t, "csr-a", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:a", []string{pki.GroupNodes}, 0))
	csr := waitCSR(t, s.Admin, "csr-a", "failed", func(c *certificatesv1.CertificateSigningRequest) bool {
		return registry.CSRHasCondition(c, certificatesv1.CertificateFailed)
	})
	last := csr.Status.Conditions[len(csr.Status.Conditions)-1]
	if !registry.CSRHasCondition(csr, certificatesv1.CertificateApproved) || last.Reason != "SignerValidationFailure" || issued(csr) {
		t.Errorf("conditions %+v", csr.Status.Conditions)
	}
}

func TestSelfNodeClient(t *testing.T) {
	kubelet := certificatesv1.KubeAPIServerClientKubeletSignerName
	base := func() *certificatesv1.CertificateSigningRequest {
		csr := newCSR(t, "x", kubelet, "system:node:a", []string{pki.GroupNodes}, 0)
		csr.Spec.Username, csr.Spec.Groups = "system:node:a", []string{pki.GroupNodes, "system:authenticated"}
		return csr
	}
	if !SelfNodeClient(base()) {
		t.Error("a node's own request is not self")
	}
	for what, change := range map[string]func(*certificatesv1.CertificateSigningRequest){
		"requested by another node": func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Username = "system:node:b" },
		"requested by an admin": func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Username, c.Spec.Groups = "admin", []string{pki.GroupAdmins}
		},
		"requestor not in system:nodes": func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Groups = []string{"system:authenticated"}
		},
		"another signer": func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
		},
		"server auth": func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, "server auth")
		},
		"masters in O": func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = newCSR(t, "x", kubelet, "system:node:a", []string{pki.GroupNodes, pki.GroupAdmins}, 0).Spec.Request
		},
	} {
		csr := base()
		change(csr)
		if SelfNodeClient(csr) {
			t.Errorf("%s: approved as a self renewal", what)
		}
	}
}
