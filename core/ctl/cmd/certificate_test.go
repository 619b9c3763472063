package cmd

import (
	"strings"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func putCSR(e *env, name string, conds ...certificatesv1.RequestConditionType) {
	csr := &certificatesv1.CertificateSigningRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: "certificates.k8s.io/v1", Kind: "CertificateSigningRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: ago(0)},
		Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeAPIServerClientSignerName, Username: "admin",
			Usages: []certificatesv1.KeyUsage{"client auth"}},
	}
	for _, c := range conds {
		csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: c, Status: "True"})
	}
	e.srv.Put("certificatesigningrequests", csr)
}

func TestCertificateApproveDeny(t *testing.T) {
	e := newEnv(t)
	putCSR(e, "csr-a")
	putCSR(e, "csr-b")
	putCSR(e, "csr-done", certificatesv1.CertificateApproved)
	e.run("certificate", "approve", "csr-a", "csr-done").expectOut(t, "certificatesigningrequest.certificates.k8s.io/csr-a approved\ncertificatesigningrequest.certificates.k8s.io/csr-done approved\n")
	e.run("certificate", "deny", "csr-b").expectOut(t, "certificatesigningrequest.certificates.k8s.io/csr-b denied\n")

	// One approval update each, through the approval subresource, with
	// kubectl's reason; none for the request already approved.
	var updates []*apipb.UpdateRequest
	for _, r := range e.srv.Requests() {
		if u, ok := r.(*apipb.UpdateRequest); ok {
			updates = append(updates, u)
		}
	}
	if len(updates) != 2 {
		t.Fatalf("%d updates, want 2: %v", len(updates), updates)
	}
	for i, want := range []string{`"type":"Approved","status":"True","reason":"KubectlApprove","message":"This CSR was approved by kubectl certificate approve."`,
		`"type":"Denied","status":"True","reason":"KubectlDeny","message":"This CSR was denied by kubectl certificate deny."`} {
		if updates[i].Subresource != "approval" || !strings.Contains(string(updates[i].Json), want) {
			t.Errorf("update %d: subresource %q body %s, want approval with %s", i, updates[i].Subresource, updates[i].Json, want)
		}
	}
	e.run("certificate", "approve", "--force", "csr-done").expectOut(t, "certificatesigningrequest.certificates.k8s.io/csr-done approved\n")

	r := e.run("certificate", "approve", "nope")
	if r.err == nil || !strings.Contains(r.printed, `certificatesigningrequests.certificates.k8s.io "nope" not found`) {
		t.Errorf("missing request: %v %q", r.err, r.printed)
	}
	if r := e.run("certificate", "approve"); r.err == nil || !strings.Contains(r.printed, "one or more CSRs must be specified") {
		t.Errorf("no name: %v %q", r.err, r.printed)
	}

	out := e.run("get", "csr").out
	if !strings.HasPrefix(out, "NAME       AGE   SIGNERNAME                            REQUESTOR   REQUESTEDDURATION   CONDITION\n") ||
		!strings.Contains(out, "csr-b      0s    kubernetes.io/kube-apiserver-client   admin       <none>              Denied\n") {
		t.Errorf("get csr:\n%s", out)
	}
}
