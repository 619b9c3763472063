package apiserver

// CertificateSigningRequests: the requestor is who sends the request, as
// Kubernetes sets spec.username and spec.groups from the authenticated
// user; the body's values are dropped (registry/csr.go) and never
// trusted. What nodes may do with them is in nodeauth.go; approving and
// signing is core/controllers/csr.go.

import (
	"context"

	certificatesv1 "k8s.io/api/certificates/v1"

	"github.com/skiffhq/skiff/core/registry"
)

// setCSRRequestor records the caller as the requestor of obj when it is
// a CertificateSigningRequest being created.
func setCSRRequestor(ctx context.Context, obj registry.Object) error {
	if _, ok := obj.(*certificatesv1.CertificateSigningRequest); !ok {
		return nil
	}
	id, err := identityFrom(ctx)
	if err != nil {
		return err
	}
	registry.SetCSRRequestor(obj, id.User, id.Groups)
	return nil
}
