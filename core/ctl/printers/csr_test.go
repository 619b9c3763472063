package printers

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCSRTable(t *testing.T) {
	cond := func(types ...certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
		var out []certificatesv1.CertificateSigningRequestCondition
		for _, ty := range types {
			out = append(out, certificatesv1.CertificateSigningRequestCondition{Type: ty, Status: "True"})
		}
		return out
	}
	hour := int32(3600)
	kubelet := certificatesv1.KubeAPIServerClientKubeletSignerName
	items := []certificatesv1.CertificateSigningRequest{
		{ObjectMeta: metav1.ObjectMeta{Name: "csr-8b5x2", CreationTimestamp: ago(2 * time.Minute)},
			Spec:   certificatesv1.CertificateSigningRequestSpec{SignerName: kubelet, Username: "system:node:worker-1"},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond("Approved"), Certificate: []byte("x")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "jane", CreationTimestamp: ago(30 * time.Second)},
			Spec: certificatesv1.CertificateSigningRequestSpec{SignerName: certificatesv1.KubeAPIServerClientSignerName, Username: "admin", ExpirationSeconds: &hour}},
		{ObjectMeta: metav1.ObjectMeta{Name: "eve", CreationTimestamp: ago(time.Hour)},
			Spec:   certificatesv1.CertificateSigningRequestSpec{SignerName: kubelet, Username: "admin"},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond("Denied")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "broken", CreationTimestamp: ago(time.Hour)},
			Spec:   certificatesv1.CertificateSigningRequestSpec{Username: "admin"},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: cond("Approved", "Failed")}},
	}
	got := render(t, TableOptions{}, CSRTable(items, now))
	want := `NAME        AGE   SIGNERNAME                                    REQUESTOR              REQUESTEDDURATION   CONDITION
csr-8b5x2   2m    kubernetes.io/kube-apiserver-client-kubelet   system:node:worker-1   <none>              Approved,Issued
jane        30s   kubernetes.io/kube-apiserver-client           admin                  60m                 Pending
eve         60m   kubernetes.io/kube-apiserver-client-kubelet   admin                  <none>              Denied
broken      60m   <none>                                        admin                  <none>              Approved,Failed
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
