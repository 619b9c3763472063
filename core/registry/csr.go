package registry

// CertificateSigningRequests (certificates.k8s.io/v1), as Kubernetes keeps
// them: a PEM certificate request for a signer, with the requestor
// (spec.username, uid, groups, extra) set by the API server from who sent
// it, never from the body. Conditions Approved and Denied go through the
// "approval" subresource, the issued certificate and Failed through
// "status"; the spec never changes after creation.
//
// skiff's signers are the two that issue API client certificates with the
// cluster CA (core/controllers/csr.go): kubernetes.io/kube-apiserver-client-kubelet
// (a node's own client certificate: CN system:node:<name>, O system:nodes,
// auto-approved when the node asks for itself) and
// kubernetes.io/kube-apiserver-client (any other client, approved by an
// admin; never for system:masters, as Kubernetes'
// CertificateSubjectRestriction admission refuses).

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/pki"
)

// The subresources of a CertificateSigningRequest.
const (
	CSRApproval = "approval"
	CSRStatus   = "status"
)

// How long a request is kept after its last write, as Kubernetes'
// csrcleaner: a day while pending, an hour once approved, denied or
// failed (the certificate, if any, has been picked up by then).
const (
	CSRPendingTTL  = 24 * time.Hour
	CSRFinishedTTL = time.Hour
)

// csrMinExpirationSeconds is Kubernetes' floor for spec.expirationSeconds.
const csrMinExpirationSeconds = 600

// CSRSigners are the signer names skiff signs for.
var CSRSigners = []string{certificatesv1.KubeAPIServerClientKubeletSignerName, certificatesv1.KubeAPIServerClientSignerName}

// csrSignerUsages are the usages each signer issues; "client auth" is
// required.
var csrSignerUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, certificatesv1.UsageClientAuth}

// csrKnownUsages are every usage Kubernetes knows.
var csrKnownUsages = []string{
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment",
	"cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing",
	"email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
	"microsoft sgc", "netscape sgc",
}

var csrSupported = newSupportedFields(append([]string{
	"spec", "spec.request", "spec.signerName", "spec.expirationSeconds", "spec.usages",
	"spec.username", "spec.uid", "spec.groups", "spec.extra.*",
	"status", "status.certificate", "status.conditions",
	"status.conditions[].type", "status.conditions[].status", "status.conditions[].reason", "status.conditions[].message",
	"status.conditions[].lastUpdateTime", "status.conditions[].lastTransitionTime",
}, metaFields...)...)

// CSRStrategy is the certificatesigningrequests resource.
type CSRStrategy struct {
	// Now stamps condition times (default time.Now).
	Now func() time.Time
}

func (CSRStrategy) Resource() api.Resource { return api.CertificateSigningRequests }
func (CSRStrategy) New() Object            { return &certificatesv1.CertificateSigningRequest{} }

func (CSRStrategy) Decode(data []byte) (Object, error) {
	return decodeResource[certificatesv1.CertificateSigningRequest](certificatesv1.SchemeGroupVersion.WithKind("CertificateSigningRequest"), data, csrSupported)
}

// PrepareForCreate clears the status (nobody creates an approved request)
// and the requestor, which the API server sets from the caller.
func (CSRStrategy) PrepareForCreate(obj Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
}

// SetCSRRequestor records who sent a request being created.
func SetCSRRequestor(obj Object, user string, groups []string) {
	if csr, ok := obj.(*certificatesv1.CertificateSigningRequest); ok {
		csr.Spec.Username = user
		csr.Spec.Groups = slices.Clone(groups)
		if !slices.Contains(csr.Spec.Groups, "system:authenticated") {
			csr.Spec.Groups = append(csr.Spec.Groups, "system:authenticated")
		}
	}
}

// Validate checks a request as Kubernetes' ValidateCertificateSigningRequestCreate
// does, and that one of skiff's signers would sign it.
func (CSRStrategy) Validate(obj Object) field.ErrorList {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	errs := ValidateMeta(csr, false, pathSegmentName)
	spec := field.NewPath("spec")
	req, err := pki.ParseRequest(csr.Spec.Request)
	switch {
	case len(csr.Spec.Request) == 0:
		errs = append(errs, field.Required(spec.Child("request"), "a PEM certificate request is required"))
	case err != nil:
		errs = append(errs, field.Invalid(spec.Child("request"), "<certificate request>", err.Error()))
	}
	signer := csr.Spec.SignerName
	switch {
	case signer == "":
		errs = append(errs, field.Required(spec.Child("signerName"), "skiff signs for "+strings.Join(CSRSigners, ", ")))
	case !slices.Contains(CSRSigners, signer):
		errs = append(errs, field.NotSupported(spec.Child("signerName"), signer, CSRSigners))
	case req != nil:
		errs = append(errs, validateCSRSubject(spec.Child("request"), signer, req)...)
	}
	errs = append(errs, validateCSRUsages(spec.Child("usages"), signer, csr.Spec.Usages)...)
	if s := csr.Spec.ExpirationSeconds; s != nil && *s < csrMinExpirationSeconds {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *s, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	if csr.Spec.Username == "" {
		errs = append(errs, field.Required(spec.Child("username"), "set by the API server from the caller"))
	}
	errs = append(errs, validateCSRConditions(field.NewPath("status", "conditions"), csr.Status.Conditions)...)
	errs = append(errs, validateCSRCertificate(csr)...)
	return errs
}

// pathSegmentName is Kubernetes' rule for names of resources like
// CertificateSigningRequests: anything that fits in a URL path segment.
func pathSegmentName(name string) []string {
	switch {
	case name == "." || name == "..":
		return []string{fmt.Sprintf("may not be '%s'", name)}
	case strings.ContainsAny(name, "/%"):
		return []string{"may not contain '/' or '%'"}
	}
	return nil
}

// CSRSignable checks a request against what its signer issues (the
// signers check again before they sign: a request stored before a rule
// changed gets Failed rather than a certificate).
func CSRSignable(csr *certificatesv1.CertificateSigningRequest) (*x509.CertificateRequest, error) {
	spec := field.NewPath("spec")
	if !slices.Contains(CSRSigners, csr.Spec.SignerName) {
		return nil, field.ErrorList{field.NotSupported(spec.Child("signerName"), csr.Spec.SignerName, CSRSigners)}.ToAggregate()
	}
	req, err := pki.ParseRequest(csr.Spec.Request)
	if err != nil {
		return nil, field.ErrorList{field.Invalid(spec.Child("request"), "<certificate request>", err.Error())}.ToAggregate()
	}
	errs := validateCSRSubject(spec.Child("request"), csr.Spec.SignerName, req)
	errs = append(errs, validateCSRUsages(spec.Child("usages"), csr.Spec.SignerName, csr.Spec.Usages)...)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return req, nil
}

// validateCSRSubject checks the request against what its signer issues.
func validateCSRSubject(p *field.Path, signer string, req *x509.CertificateRequest) field.ErrorList {
	var errs field.ErrorList
	bad := func(format string, args ...any) {
		errs = append(errs, field.Invalid(p, "<certificate request>", fmt.Sprintf("signer %s: ", signer)+fmt.Sprintf(format, args...)))
	}
	switch signer {
	case certificatesv1.KubeAPIServerClientKubeletSignerName:
		if node, ok := strings.CutPrefix(req.Subject.CommonName, "system:node:"); !ok || node == "" {
			bad("subject common name %q must be system:node:<node name>", req.Subject.CommonName)
		}
		if !slices.Equal(req.Subject.Organization, []string{pki.GroupNodes}) {
			bad("subject organization %q must be exactly [%q]", req.Subject.Organization, pki.GroupNodes)
		}
		if len(req.DNSNames)+len(req.IPAddresses)+len(req.EmailAddresses)+len(req.URIs) > 0 {
			bad("subject alternative names are not allowed in a node client certificate")
		}
	case certificatesv1.KubeAPIServerClientSignerName:
		if req.Subject.CommonName == "" {
			bad("subject common name (the user) is required")
		}
		if slices.Contains(req.Subject.Organization, pki.GroupAdmins) {
			bad("use of this signer with the %s group is not allowed", pki.GroupAdmins)
		}
	}
	return errs
}

func validateCSRUsages(p *field.Path, signer string, usages []certificatesv1.KeyUsage) field.ErrorList {
	var errs field.ErrorList
	if len(usages) == 0 {
		return append(errs, field.Required(p, "usages must be provided"))
	}
	signable := slices.Contains(CSRSigners, signer)
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range usages {
		switch {
		case seen[u]:
			errs = append(errs, field.Duplicate(p.Index(i), u))
		case !slices.Contains(csrKnownUsages, string(u)):
			errs = append(errs, field.NotSupported(p.Index(i), u, csrKnownUsages))
		case signable && !slices.Contains(csrSignerUsages, u):
			errs = append(errs, field.Forbidden(p.Index(i), fmt.Sprintf("signer %s does not issue %q (it issues %s)", signer, u, usageList(csrSignerUsages))))
		}
		seen[u] = true
	}
	if signable && !seen[certificatesv1.UsageClientAuth] {
		errs = append(errs, field.Required(p, fmt.Sprintf("signer %s issues client certificates: %q is required", signer, certificatesv1.UsageClientAuth)))
	}
	return errs
}

func usageList(us []certificatesv1.KeyUsage) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = fmt.Sprintf("%q", u)
	}
	return strings.Join(s, ", ")
}

// csrTrueOnly are the condition types whose status must be True.
var csrTrueOnly = []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed}

func validateCSRConditions(p *field.Path, conds []certificatesv1.CertificateSigningRequestCondition) field.ErrorList {
	var errs field.ErrorList
	seen := map[certificatesv1.RequestConditionType]bool{}
	for i, c := range conds {
		cp := p.Index(i)
		switch {
		case c.Type == "":
			errs = append(errs, field.Required(cp.Child("type"), ""))
		case seen[c.Type]:
			errs = append(errs, field.Duplicate(cp.Child("type"), c.Type))
		}
		seen[c.Type] = true
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(cp.Child("status"), ""))
		case slices.Contains(csrTrueOnly, c.Type) && c.Status != corev1.ConditionTrue:
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{string(corev1.ConditionTrue)}))
		case c.Status != corev1.ConditionTrue && c.Status != corev1.ConditionFalse && c.Status != corev1.ConditionUnknown:
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{"True", "False", "Unknown"}))
		}
		if (c.Type == certificatesv1.CertificateApproved && seen[certificatesv1.CertificateDenied]) ||
			(c.Type == certificatesv1.CertificateDenied && seen[certificatesv1.CertificateApproved]) {
			errs = append(errs, field.Invalid(cp.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
		}
	}
	return errs
}

// validateCSRCertificate: the certificate is PEM CERTIFICATE blocks and
// only comes with approval.
func validateCSRCertificate(csr *certificatesv1.CertificateSigningRequest) field.ErrorList {
	data := csr.Status.Certificate
	if len(data) == 0 {
		return nil
	}
	p := field.NewPath("status", "certificate")
	if !CSRHasCondition(csr, certificatesv1.CertificateApproved) || CSRHasCondition(csr, certificatesv1.CertificateFailed) {
		return field.ErrorList{field.Forbidden(p, "may only be set on an Approved request that has not Failed")}
	}
	n := 0
	for len(bytes.TrimSpace(data)) > 0 {
		block, rest := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" {
			return field.ErrorList{field.Invalid(p, "<certificate data>", "must contain only PEM CERTIFICATE blocks")}
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return field.ErrorList{field.Invalid(p, "<certificate data>", fmt.Sprintf("block %d: %v", n, err))}
		}
		data, n = rest, n+1
	}
	return nil
}

// CSRHasCondition reports whether the request has a True condition of type t.
func CSRHasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	for _, c := range csr.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// PrepareForUpdate: the spec never changes (the requestor is kept from
// old; ValidateUpdate refuses other changes). A plain update changes
// metadata only; "approval" changes the conditions; "status" the
// certificate and the conditions other than Approved and Denied.
func (s CSRStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	KeepMetaOnUpdate(obj, old)
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = prev.Spec.Username, prev.Spec.UID, prev.Spec.Groups, prev.Spec.Extra
	switch subresource {
	case "":
		csr.Status = *prev.Status.DeepCopy()
		return nil
	case CSRApproval:
		csr.Spec = *prev.Spec.DeepCopy()
		csr.Status.Certificate = prev.Status.Certificate
	case CSRStatus:
		csr.Spec = *prev.Spec.DeepCopy()
		// The status subresource does not approve or deny.
		var errs field.ErrorList
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			if CSRHasCondition(csr, t) != CSRHasCondition(prev, t) {
				errs = append(errs, field.Forbidden(field.NewPath("status", "conditions"),
					fmt.Sprintf("the status subresource may not add or remove a condition of type %q (use the %s subresource)", t, CSRApproval)))
			}
		}
		if len(errs) > 0 {
			gk := s.Resource().GroupVersion().WithKind(s.Resource().Kind).GroupKind()
			return apierrors.NewInvalid(gk, csr.Name, errs)
		}
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("certificatesigningrequests: unknown subresource %q (want %q or %q)", subresource, CSRApproval, CSRStatus))
	}
	csr.Labels, csr.Annotations = prev.Labels, prev.Annotations
	s.stampConditions(csr, prev)
	return nil
}

// stampConditions fills the times of new and changed conditions.
func (s CSRStrategy) stampConditions(csr, prev *certificatesv1.CertificateSigningRequest) {
	now := metav1.Now()
	if s.Now != nil {
		now = metav1.NewTime(s.Now())
	}
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		var was *certificatesv1.CertificateSigningRequestCondition
		for j := range prev.Status.Conditions {
			if prev.Status.Conditions[j].Type == c.Type {
				was = &prev.Status.Conditions[j]
			}
		}
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		switch {
		case !c.LastTransitionTime.IsZero():
		case was != nil && was.Status == c.Status:
			c.LastTransitionTime = was.LastTransitionTime
		default:
			c.LastTransitionTime = now
		}
	}
}

// ValidateUpdate: Validate, an unchanged spec, and Kubernetes' rules for
// status: Approved, Denied and Failed are never removed or changed, and
// a certificate once issued stays; Approved and Denied only change
// through approval.
func (s CSRStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	errs := s.Validate(obj)
	spec := field.NewPath("spec")
	immutable := func(name string, a, b any) {
		if !apiequality.Semantic.DeepEqual(a, b) {
			errs = append(errs, field.Invalid(spec.Child(name), a, "field is immutable"))
		}
	}
	if !bytes.Equal(csr.Spec.Request, prev.Spec.Request) {
		errs = append(errs, field.Invalid(spec.Child("request"), "<certificate request>", "field is immutable"))
	}
	immutable("signerName", csr.Spec.SignerName, prev.Spec.SignerName)
	immutable("expirationSeconds", csr.Spec.ExpirationSeconds, prev.Spec.ExpirationSeconds)
	immutable("usages", csr.Spec.Usages, prev.Spec.Usages)
	conds := field.NewPath("status", "conditions")
	for _, t := range csrTrueOnly {
		if CSRHasCondition(prev, t) && !CSRHasCondition(csr, t) {
			errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if len(prev.Status.Certificate) > 0 && !bytes.Equal(prev.Status.Certificate, csr.Status.Certificate) {
		errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", "updates may not modify existing certificate content"))
	}
	return errs
}

func (CSRStrategy) Fields(obj Object) fields.Set {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	return fields.Set{"metadata.name": csr.Name, "spec.signerName": csr.Spec.SignerName}
}

// TTL is CSRPendingTTL for a pending request and CSRFinishedTTL for one
// that is approved, denied or failed, counted from its last write.
func (CSRStrategy) TTL(obj Object) time.Duration {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	for _, t := range csrTrueOnly {
		if CSRHasCondition(csr, t) {
			return CSRFinishedTTL
		}
	}
	return CSRPendingTTL
}
