package registry

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// Services are type ClusterIP only: a virtual IP (or "None", headless)
// balanced across the ready pods its selector picks. The virtual IP is
// allocated by the API server (core/apiserver/serviceips.go), which also
// checks a requested one against the service CIDR.
var serviceSupported = newSupportedFields(append([]string{
	"spec", "spec.type", "spec.clusterIP", "spec.clusterIPs",
	"spec.selector.*", "spec.sessionAffinity",
	"spec.ports", "spec.ports[].name", "spec.ports[].protocol", "spec.ports[].port", "spec.ports[].targetPort",
	"spec.ipFamilies", "spec.ipFamilyPolicy", "spec.internalTrafficPolicy",
	"status.*",
}, metaFields...)...)

// ServiceStrategy is the services resource.
type ServiceStrategy struct{}

func (ServiceStrategy) Resource() api.Resource { return api.Services }
func (ServiceStrategy) New() Object            { return &corev1.Service{} }

func (ServiceStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Service]("Service", data, serviceSupported)
}

// PrepareForCreate sets Kubernetes' defaults: type ClusterIP, session
// affinity None, protocol TCP, targetPort = port.
func (ServiceStrategy) PrepareForCreate(obj Object) {
	svc := obj.(*corev1.Service)
	svc.Status = corev1.ServiceStatus{}
	defaultService(svc)
}

func defaultService(svc *corev1.Service) {
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if svc.Spec.SessionAffinity == "" {
		svc.Spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	if svc.Spec.ClusterIP != "" && len(svc.Spec.ClusterIPs) == 0 {
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone && svc.Spec.InternalTrafficPolicy == nil {
		p := corev1.ServiceInternalTrafficPolicyCluster
		svc.Spec.InternalTrafficPolicy = &p
	}
}

func (ServiceStrategy) Validate(obj Object) field.ErrorList {
	svc := obj.(*corev1.Service)
	errs := ValidateMeta(svc, true, validation.IsDNS1035Label)
	spec := field.NewPath("spec")
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, field.NotSupported(spec.Child("type"), svc.Spec.Type, []string{string(corev1.ServiceTypeClusterIP)}))
	}
	if svc.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		errs = append(errs, field.NotSupported(spec.Child("sessionAffinity"), svc.Spec.SessionAffinity, []string{string(corev1.ServiceAffinityNone)}))
	}
	if p := svc.Spec.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster {
		errs = append(errs, field.NotSupported(spec.Child("internalTrafficPolicy"), *p, []string{string(corev1.ServiceInternalTrafficPolicyCluster)}))
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil && *p != corev1.IPFamilyPolicySingleStack {
		errs = append(errs, field.NotSupported(spec.Child("ipFamilyPolicy"), *p, []string{string(corev1.IPFamilyPolicySingleStack)}))
	}
	for i, f := range svc.Spec.IPFamilies {
		if f != corev1.IPv4Protocol || i > 0 {
			errs = append(errs, field.NotSupported(spec.Child("ipFamilies").Index(i), f, []string{string(corev1.IPv4Protocol)}))
		}
	}
	errs = append(errs, validateClusterIP(svc)...)
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	ports := spec.Child("ports")
	if len(svc.Spec.Ports) == 0 && !headless {
		errs = append(errs, field.Required(ports, ""))
	}
	names := sets.New[string]()
	keys := sets.New[string]()
	for i, p := range svc.Spec.Ports {
		pp := ports.Index(i)
		if len(svc.Spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		} else if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names.Has(p.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names.Insert(p.Name)
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		switch p.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}))
		}
		key := fmt.Sprintf("%s/%d", p.Protocol, p.Port)
		if keys.Has(key) {
			errs = append(errs, field.Duplicate(pp, key))
		}
		keys.Insert(key)
		errs = append(errs, validateTargetPort(pp.Child("targetPort"), p.TargetPort)...)
	}
	for k, v := range svc.Spec.Selector {
		sel := spec.Child("selector")
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(sel, k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(sel, v, msg))
		}
	}
	return errs
}

func validateTargetPort(path *field.Path, tp intstr.IntOrString) field.ErrorList {
	var errs field.ErrorList
	if tp.Type == intstr.String {
		for _, msg := range validation.IsValidPortName(tp.StrVal) {
			errs = append(errs, field.Invalid(path, tp.StrVal, msg))
		}
		return errs
	}
	for _, msg := range validation.IsValidPortNum(int(tp.IntVal)) {
		errs = append(errs, field.Invalid(path, tp.IntVal, msg))
	}
	return errs
}

// validateClusterIP checks the form of spec.clusterIP(s); whether a
// requested IP is inside the service CIDR and free is the allocator's.
func validateClusterIP(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	ip := svc.Spec.ClusterIP
	if ip != "" && ip != corev1.ClusterIPNone {
		if a, err := netip.ParseAddr(ip); err != nil || !a.Is4() {
			errs = append(errs, field.Invalid(spec.Child("clusterIP"), ip, "must be a valid IPv4 address or \"None\""))
		}
	}
	if len(svc.Spec.ClusterIPs) > 1 {
		errs = append(errs, field.TooMany(spec.Child("clusterIPs"), len(svc.Spec.ClusterIPs), 1))
	}
	if len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] != ip {
		errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), svc.Spec.ClusterIPs[0], "must match `clusterIP` when set"))
	}
	return errs
}

func (ServiceStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	KeepMetaOnUpdate(svc, oldSvc)
	switch subresource {
	case "":
		svc.Status = oldSvc.Status
		// As Kubernetes: an update that leaves the allocated IP out keeps it
		// (a manifest applied again has no clusterIP).
		if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIP = oldSvc.Spec.ClusterIP
			svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIPs
		}
		defaultService(svc)
	case "status":
		svc.Spec = oldSvc.Spec
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("services: unknown subresource %q", subresource))
	}
	return nil
}

func (s ServiceStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	errs := s.Validate(svc)
	if svc.Spec.ClusterIP != oldSvc.Spec.ClusterIP {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "field is immutable"))
	}
	return errs
}

func (ServiceStrategy) Fields(obj Object) fields.Set {
	return fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
}
