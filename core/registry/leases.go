package registry

import (
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// leaseSupported leaves out spec.strategy and spec.preferredHolder
// (coordinated leader election), which skiff does not implement.
var leaseSupported = newSupportedFields(append([]string{
	"spec", "spec.holderIdentity", "spec.leaseDurationSeconds", "spec.acquireTime",
	"spec.renewTime", "spec.leaseTransitions",
}, metaFields...)...)

// DefaultNodeLeaseTTL is how long a node's Lease outlives its last renewal
// when the server is not told otherwise: Kubernetes' node-monitor-grace-period.
const DefaultNodeLeaseTTL = 40 * time.Second

// LeaseStrategy is the leases resource (coordination.k8s.io/v1 Lease).
//
// A Lease in kube-node-lease is a node's heartbeat: the store keeps it
// under an etcd lease of NodeLeaseTTL that every renewal re-arms, so etcd
// itself deletes the Lease of an agent that stopped renewing, on the
// server's clock, and the node lifecycle controller reads that as the node
// going silent. Leases elsewhere (leader election by users) do not expire.
type LeaseStrategy struct {
	// NodeLeaseTTL defaults to DefaultNodeLeaseTTL.
	NodeLeaseTTL time.Duration
}

func (LeaseStrategy) Resource() api.Resource { return api.Leases }
func (LeaseStrategy) New() Object            { return &coordinationv1.Lease{} }

func (LeaseStrategy) Decode(data []byte) (Object, error) {
	return decodeResource[coordinationv1.Lease](coordinationv1.SchemeGroupVersion.WithKind("Lease"), data, leaseSupported)
}

func (LeaseStrategy) PrepareForCreate(Object) {}

// Validate checks what Kubernetes' ValidateLease does.
func (LeaseStrategy) Validate(obj Object) field.ErrorList {
	l := obj.(*coordinationv1.Lease)
	errs := ValidateMeta(l, true, validation.IsDNS1123Subdomain)
	spec := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(spec.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if n := l.Spec.LeaseTransitions; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(spec.Child("leaseTransitions"), *n, "must be greater than or equal to 0"))
	}
	return errs
}

func (LeaseStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	if subresource != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("leases: unknown subresource %q", subresource))
	}
	KeepMetaOnUpdate(obj, old)
	return nil
}

func (s LeaseStrategy) ValidateUpdate(obj, _ Object) field.ErrorList { return s.Validate(obj) }

func (LeaseStrategy) Fields(obj Object) fields.Set {
	return fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
}

// TTL is NodeLeaseTTL for node leases and none for the others.
func (s LeaseStrategy) TTL(obj Object) time.Duration {
	if obj.GetNamespace() != api.NodeLeaseNamespace {
		return 0
	}
	if s.NodeLeaseTTL > 0 {
		return s.NodeLeaseTTL
	}
	return DefaultNodeLeaseTTL
}
