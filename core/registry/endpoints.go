//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package registry

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// Endpoints are written by the endpoints controller (one per Service with a
// selector, same name); users may write them for a Service without one.
var endpointsSupported = newSupportedFields(append([]string{
	"subsets",
	"subsets[].addresses", "subsets[].addresses[].ip", "subsets[].addresses[].hostname",
	"subsets[].addresses[].nodeName", "subsets[].addresses[].targetRef.*",
	"subsets[].notReadyAddresses", "subsets[].notReadyAddresses[].ip", "subsets[].notReadyAddresses[].hostname",
	"subsets[].notReadyAddresses[].nodeName", "subsets[].notReadyAddresses[].targetRef.*",
	"subsets[].ports", "subsets[].ports[].name", "subsets[].ports[].port", "subsets[].ports[].protocol",
}, metaFields...)...)

// EndpointsStrategy is the endpoints resource.
type EndpointsStrategy struct{}

func (EndpointsStrategy) Resource() api.Resource { return api.Endpoints }
func (EndpointsStrategy) New() Object            { return &corev1.Endpoints{} }

func (EndpointsStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Endpoints]("Endpoints", data, endpointsSupported)
}

func (EndpointsStrategy) PrepareForCreate(obj Object) {
	defaultEndpoints(obj.(*corev1.Endpoints))
}

func defaultEndpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func (EndpointsStrategy) Validate(obj Object) field.ErrorList {
	ep := obj.(*corev1.Endpoints)
	errs := ValidateMeta(ep, true, validation.IsDNS1123Subdomain)
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			errs = append(errs, field.Required(sp, "must specify `addresses` or `notReadyAddresses`"))
		}
		errs = append(errs, validateEndpointAddresses(sp.Child("addresses"), ss.Addresses)...)
		errs = append(errs, validateEndpointAddresses(sp.Child("notReadyAddresses"), ss.NotReadyAddresses)...)
		for j, p := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if len(ss.Ports) > 1 && p.Name == "" {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if p.Name != "" {
				for _, msg := range validation.IsDNS1123Label(p.Name) {
					errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
				}
			}
			for _, msg := range validation.IsValidPortNum(int(p.Port)) {
				errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
			}
			switch p.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP:
			default:
				errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []string{string(corev1.ProtocolTCP), string(corev1.ProtocolUDP)}))
			}
		}
	}
	return errs
}

func validateEndpointAddresses(path *field.Path, addrs []corev1.EndpointAddress) field.ErrorList {
	var errs field.ErrorList
	for i, a := range addrs {
		if ip, err := netip.ParseAddr(a.IP); err != nil || !ip.Is4() {
			errs = append(errs, field.Invalid(path.Index(i).Child("ip"), a.IP, "must be a valid IPv4 address"))
		}
		if a.Hostname != "" {
			for _, msg := range validation.IsDNS1123Label(a.Hostname) {
				errs = append(errs, field.Invalid(path.Index(i).Child("hostname"), a.Hostname, msg))
			}
		}
	}
	return errs
}

func (EndpointsStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	if subresource != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("endpoints: unknown subresource %q", subresource))
	}
	KeepMetaOnUpdate(obj, old)
	defaultEndpoints(obj.(*corev1.Endpoints))
	return nil
}

func (s EndpointsStrategy) ValidateUpdate(obj, _ Object) field.ErrorList { return s.Validate(obj) }

func (EndpointsStrategy) Fields(obj Object) fields.Set {
	return fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
}
