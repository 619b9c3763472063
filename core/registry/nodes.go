package registry

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

var nodeSupported = newSupportedFields(append([]string{
	"spec", "spec.podCIDR", "spec.podCIDRs.*", "spec.unschedulable", "status.*",
}, metaFields...)...)

// NodeStrategy is the nodes resource. Node objects are made by the agents
// when they register.
type NodeStrategy struct{}

func (NodeStrategy) Resource() api.Resource { return api.Nodes }
func (NodeStrategy) New() Object            { return &corev1.Node{} }

func (NodeStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Node]("Node", data, nodeSupported)
}

func (NodeStrategy) PrepareForCreate(obj Object) {
	obj.SetNamespace("")
}

func (NodeStrategy) Validate(obj Object) field.ErrorList {
	return ValidateMeta(obj, false, validation.IsDNS1123Subdomain)
}

func (NodeStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
	KeepMetaOnUpdate(node, oldNode)
	node.Namespace = ""
	switch subresource {
	case "":
		node.Status = oldNode.Status
	case "status":
		node.Spec = oldNode.Spec
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("nodes: unknown subresource %q", subresource))
	}
	return nil
}

func (s NodeStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
	errs := s.Validate(node)
	if oldNode.Spec.PodCIDR != "" && node.Spec.PodCIDR != oldNode.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDR"), "may not be changed once set"))
	}
	return errs
}

func (NodeStrategy) Fields(obj Object) fields.Set {
	return fields.Set{"metadata.name": obj.GetName()}
}

var eventSupported = newSupportedFields(append([]string{
	"involvedObject.*", "reason", "message", "source.*", "firstTimestamp", "lastTimestamp",
	"count", "type", "eventTime", "reportingComponent", "reportingInstance",
}, metaFields...)...)

// EventStrategy is the events resource (core/v1 Event).
type EventStrategy struct{}

func (EventStrategy) Resource() api.Resource { return api.Events }
func (EventStrategy) New() Object            { return &corev1.Event{} }

func (EventStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Event]("Event", data, eventSupported)
}

func (EventStrategy) PrepareForCreate(Object) {}

func (EventStrategy) Validate(obj Object) field.ErrorList {
	ev := obj.(*corev1.Event)
	errs := ValidateMeta(ev, true, validation.IsDNS1123Subdomain)
	if ev.InvolvedObject.Name == "" {
		errs = append(errs, field.Required(field.NewPath("involvedObject", "name"), ""))
	}
	if ev.Type != corev1.EventTypeNormal && ev.Type != corev1.EventTypeWarning {
		errs = append(errs, field.NotSupported(field.NewPath("type"), ev.Type, []string{"Normal", "Warning"}))
	}
	return errs
}

func (EventStrategy) PrepareForUpdate(obj, old Object, _ string) error {
	KeepMetaOnUpdate(obj, old)
	return nil
}

func (s EventStrategy) ValidateUpdate(obj, _ Object) field.ErrorList { return s.Validate(obj) }

func (EventStrategy) Fields(obj Object) fields.Set {
	ev := obj.(*corev1.Event)
	return fields.Set{
		"metadata.name":            ev.Name,
		"metadata.namespace":       ev.Namespace,
		"involvedObject.kind":      ev.InvolvedObject.Kind,
		"involvedObject.name":      ev.InvolvedObject.Name,
		"involvedObject.namespace": ev.InvolvedObject.Namespace,
		"involvedObject.uid":       string(ev.InvolvedObject.UID),
		"reason":                   ev.Reason,
		"type":                     ev.Type,
	}
}
