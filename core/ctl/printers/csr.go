package printers

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// CSRTable is the `get csr` table (kubectl: NAME, AGE, SIGNERNAME,
// REQUESTOR, REQUESTEDDURATION, CONDITION).
func CSRTable(items []certificatesv1.CertificateSigningRequest, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Age"}, {Name: "SignerName"}, {Name: "Requestor"}, {Name: "RequestedDuration"}, {Name: "Condition"}}}
	for i := range items {
		csr := &items[i]
		signer := firstNonEmpty(csr.Spec.SignerName, "<none>")
		requested := "<none>"
		if s := csr.Spec.ExpirationSeconds; s != nil {
			requested = duration.HumanDuration(time.Duration(*s) * time.Second)
		}
		t.Rows = append(t.Rows, Row{Cells: []string{csr.Name, Age(csr.CreationTimestamp, now), signer, csr.Spec.Username, requested, CSRCondition(csr)}})
	}
	return t
}

// CSRCondition is kubectl's CONDITION of a request: Denied, Approved or
// Pending, then ",Failed" and ",Issued" when they apply.
func CSRCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	status := "Pending"
	switch {
	case denied:
		status = "Denied"
	case approved:
		status = "Approved"
	}
	if failed {
		status += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		status += ",Issued"
	}
	return status
}
