package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/pki"
)

// csrPEM is a PEM request for subject, with ips as SANs.
func csrPEM(t *testing.T, subject pkix.Name, ips ...net.IP) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject, IPAddresses: ips}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// nodeCSR is worker-1 asking for its own client certificate, as stored
// (requestor set).
func nodeCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	req := csrPEM(t, pkix.Name{CommonName: "system:node:worker-1", Organization: []string{pki.GroupNodes}})
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-abcde"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: req, SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:   []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			Username: "system:node:worker-1", Groups: []string{pki.GroupNodes, "system:authenticated"},
		},
	}
}

func wantErrs(t *testing.T, what string, got field.ErrorList, want ...string) {
	t.Helper()
	agg := got.ToAggregate()
	if len(want) == 0 {
		if agg != nil {
			t.Errorf("%s: %v, want no error", what, agg)
		}
		return
	}
	if agg == nil {
		t.Errorf("%s: no error, want %q", what, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(agg.Error(), w) {
			t.Errorf("%s: %v\nwant it to contain %q", what, agg, w)
		}
	}
}

func TestCSRValidation(t *testing.T) {
	st := CSRStrategy{}
	wantErrs(t, "a node's own renewal", st.Validate(nodeCSR(t)))
	cases := []struct {
		name   string
		change func(*certificatesv1.CertificateSigningRequest)
		want   []string
	}{
		{"no request", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = nil }, []string{"spec.request: Required value"}},
		{"not PEM", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }, []string{"spec.request: Invalid value", "no PEM block found"}},
		{"a certificate, not a request", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})
		}, []string{"spec.request", "PEM block type must be CERTIFICATE REQUEST"}},
		{"garbage DER", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1, 2, 3}})
		}, []string{"spec.request: Invalid value"}},
		{"no signer", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }, []string{"spec.signerName: Required value"}},
		{"a signer skiff lacks", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.SignerName = certificatesv1.KubeletServingSignerName
		},
			[]string{`spec.signerName: Unsupported value: "kubernetes.io/kubelet-serving"`, "kubernetes.io/kube-apiserver-client-kubelet"}},
		{"no usages", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }, []string{"spec.usages: Required value"}},
		{"unknown usage", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = append(c.Spec.Usages, "flying") },
			[]string{`spec.usages[2]: Unsupported value: "flying"`}},
		{"duplicate usage", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, "client auth")
		},
			[]string{`spec.usages[2]: Duplicate value: "client auth"`}},
		{"server auth from a client signer", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = append(c.Spec.Usages, "server auth")
		},
			[]string{`spec.usages[2]: Forbidden: signer kubernetes.io/kube-apiserver-client-kubelet does not issue "server auth"`}},
		{"no client auth", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = c.Spec.Usages[:1] },
			[]string{`spec.usages: Required value: signer kubernetes.io/kube-apiserver-client-kubelet issues client certificates: "client auth" is required`}},
		{"too short", func(c *certificatesv1.CertificateSigningRequest) { s := int32(60); c.Spec.ExpirationSeconds = &s },
			[]string{"spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds"}},
		{"not a node", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = csrPEM(t, pkix.Name{CommonName: "admin", Organization: []string{pki.GroupNodes}})
		}, []string{`spec.request: Invalid value: "<certificate request>": signer kubernetes.io/kube-apiserver-client-kubelet: subject common name "admin" must be system:node:<node name>`}},
		{"masters in a node certificate", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = csrPEM(t, pkix.Name{CommonName: "system:node:worker-1", Organization: []string{pki.GroupNodes, pki.GroupAdmins}})
		}, []string{`subject organization ["system:nodes" "system:masters"] must be exactly ["system:nodes"]`}},
		{"SANs in a node client certificate", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Request = csrPEM(t, pkix.Name{CommonName: "system:node:worker-1", Organization: []string{pki.GroupNodes}}, net.ParseIP("10.0.0.1"))
		}, []string{"subject alternative names are not allowed"}},
		{"masters through the client signer", func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
			c.Spec.Request = csrPEM(t, pkix.Name{CommonName: "mallory", Organization: []string{pki.GroupAdmins}})
		}, []string{"signer kubernetes.io/kube-apiserver-client: use of this signer with the system:masters group is not allowed"}},
		{"bad name", func(c *certificatesv1.CertificateSigningRequest) { c.Name = "a/b" }, []string{"metadata.name: Invalid value: \"a/b\""}},
		{"approved and denied", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: "True"}, {Type: "Denied", Status: "True"}}
		}, []string{"status.conditions[1].type: Invalid value: \"Denied\": Approved and Denied conditions are mutually exclusive"}},
		{"approved false", func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: "False"}}
		}, []string{`status.conditions[0].status: Unsupported value: "False"`}},
		{"a certificate without approval", func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("x") },
			[]string{"status.certificate: Forbidden: may only be set on an Approved request"}},
	}
	for _, tc := range cases {
		csr := nodeCSR(t)
		tc.change(csr)
		wantErrs(t, tc.name, st.Validate(csr), tc.want...)
	}
	// An admin's request for another user is fine (it waits for approval).
	csr := nodeCSR(t)
	csr.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
	csr.Spec.Request = csrPEM(t, pkix.Name{CommonName: "jane", Organization: []string{"dev"}})
	wantErrs(t, "a user's client certificate", st.Validate(csr))
}

func TestCSRDecodeAndCreate(t *testing.T) {
	st := CSRStrategy{}
	if _, err := st.Decode([]byte(`{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"x"},"spec":{"colour":"blue"}}`)); err == nil ||
		!strings.Contains(err.Error(), `unknown field "spec.colour"`) {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := st.Decode([]byte(`{"apiVersion":"certificates.k8s.io/v1beta1","kind":"CertificateSigningRequest","metadata":{"name":"x"}}`)); err == nil ||
		!strings.Contains(err.Error(), `skiff serves only "certificates.k8s.io/v1"`) {
		t.Errorf("v1beta1: %v", err)
	}
	// Nobody creates a pre-approved request, or names its requestor.
	csr := nodeCSR(t)
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: "True"}}
	csr.Status.Certificate = []byte("x")
	st.PrepareForCreate(csr)
	if len(csr.Status.Conditions) != 0 || csr.Status.Certificate != nil || csr.Spec.Username != "" || csr.Spec.Groups != nil {
		t.Errorf("after PrepareForCreate: %+v %+v", csr.Status, csr.Spec)
	}
	wantErrs(t, "no requestor", st.Validate(csr), "spec.username: Required value")
	SetCSRRequestor(csr, "system:node:worker-1", []string{pki.GroupNodes})
	if got := csr.Spec.Groups; len(got) != 2 || got[1] != "system:authenticated" {
		t.Errorf("groups %v", got)
	}
	wantErrs(t, "requestor set", st.Validate(csr))
}

func TestCSRUpdates(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	st := CSRStrategy{Now: func() time.Time { return now }}
	old := nodeCSR(t)
	old.ResourceVersion, old.UID = "7", "u1"
	update := func(sub string, change func(*certificatesv1.CertificateSigningRequest)) (*certificatesv1.CertificateSigningRequest, string) {
		next := old.DeepCopy()
		change(next)
		if err := st.PrepareForUpdate(next, old, sub); err != nil {
			return next, err.Error()
		}
		if agg := st.ValidateUpdate(next, old).ToAggregate(); agg != nil {
			return next, agg.Error()
		}
		return next, ""
	}
	approved := certificatesv1.CertificateSigningRequestCondition{Type: "Approved", Status: "True", Reason: "R"}

	// The spec is immutable; the requestor is the server's and is kept.
	if _, err := update("", func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.SignerName = certificatesv1.KubeAPIServerClientSignerName
	}); !strings.Contains(err, "spec.signerName: Invalid value: \"kubernetes.io/kube-apiserver-client\": field is immutable") {
		t.Errorf("signer change: %q", err)
	}
	if _, err := update("", func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = c.Spec.Usages[1:] }); !strings.Contains(err, "spec.usages: Invalid value") || !strings.Contains(err, "field is immutable") {
		t.Errorf("usages change: %q", err)
	}
	if _, err := update("", func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.Request = csrPEM(t, pkix.Name{CommonName: "system:node:worker-1", Organization: []string{pki.GroupNodes}})
	}); !strings.Contains(err, "spec.request: Invalid value: \"<certificate request>\": field is immutable") {
		t.Errorf("request change: %q", err)
	}
	got, err := update("", func(c *certificatesv1.CertificateSigningRequest) {
		c.Spec.Username, c.Labels = "admin", map[string]string{"a": "b"}
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}
	})
	if err != "" || got.Spec.Username != "system:node:worker-1" || got.Labels["a"] != "b" || len(got.Status.Conditions) != 0 {
		t.Errorf("metadata update: %q %v %v %v", err, got.Spec.Username, got.Labels, got.Status.Conditions)
	}

	// Approval: conditions only, stamped.
	got, err = update(CSRApproval, func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}
		c.Labels = map[string]string{"a": "b"}
	})
	if err != "" || !CSRHasCondition(got, "Approved") || got.Labels != nil || !got.Status.Conditions[0].LastUpdateTime.Time.Equal(now) {
		t.Errorf("approve: %q %+v", err, got.Status)
	}
	if _, err := update(CSRStatus, func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}
	}); !strings.Contains(err, `the status subresource may not add or remove a condition of type "Approved"`) {
		t.Errorf("approve through status: %q", err)
	}
	if _, err := update("scale", func(*certificatesv1.CertificateSigningRequest) {}); !strings.Contains(err, `unknown subresource "scale"`) {
		t.Errorf("unknown subresource: %q", err)
	}

	// Approved: the signer adds the certificate; approval stays; the
	// certificate never changes; Denied cannot join Approved.
	old.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{approved}
	if _, err := update(CSRApproval, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Conditions = nil }); !strings.Contains(err, `updates may not remove a condition of type "Approved"`) {
		t.Errorf("unapprove: %q", err)
	}
	if _, err := update(CSRApproval, func(c *certificatesv1.CertificateSigningRequest) {
		c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: "Denied", Status: "True"})
	}); !strings.Contains(err, "mutually exclusive") {
		t.Errorf("deny an approved request: %q", err)
	}
	ca, err2 := pki.LoadOrCreateCA(t.TempDir())
	if err2 != nil {
		t.Fatal(err2)
	}
	kp, err2 := ca.IssueClient("system:node:worker-1", []string{pki.GroupNodes})
	if err2 != nil {
		t.Fatal(err2)
	}
	if _, err := update(CSRStatus, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = []byte("junk") }); !strings.Contains(err, "status.certificate: Invalid value: \"<certificate data>\": must contain only PEM CERTIFICATE blocks") {
		t.Errorf("junk certificate: %q", err)
	}
	got, err = update(CSRApproval, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = kp.CertPEM })
	if err != "" || got.Status.Certificate != nil {
		t.Errorf("certificate through approval is dropped: %q %q", err, got.Status.Certificate)
	}
	got, err = update(CSRStatus, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = kp.CertPEM })
	if err != "" || string(got.Status.Certificate) != string(kp.CertPEM) {
		t.Errorf("issue: %q", err)
	}
	old = got
	if _, err := update(CSRStatus, func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = nil }); !strings.Contains(err, "updates may not modify existing certificate content") {
		t.Errorf("reset certificate: %q", err)
	}
}

func TestCSRTTL(t *testing.T) {
	csr := nodeCSR(t)
	if got := (CSRStrategy{}).TTL(csr); got != 24*time.Hour {
		t.Errorf("pending: %v", got)
	}
	for _, typ := range []certificatesv1.RequestConditionType{"Approved", "Denied", "Failed"} {
		csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: typ, Status: corev1.ConditionTrue}}
		if got := (CSRStrategy{}).TTL(csr); got != time.Hour {
			t.Errorf("%s: %v, want 1h", typ, got)
		}
	}
}
