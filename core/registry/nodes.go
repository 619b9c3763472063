package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

var nodeSupported = newSupportedFields(append([]string{
	"spec", "spec.podCIDR", "spec.podCIDRs.*", "spec.unschedulable",
	"spec.taints", "spec.taints[].key", "spec.taints[].value", "spec.taints[].effect",
	"status.*",
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
	node := obj.(*corev1.Node)
	errs := ValidateMeta(node, false, validation.IsDNS1123Subdomain)
	return append(errs, ValidateNodeTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
}

// taintEffects are the effects Kubernetes accepts. skiff's scheduler
// filters on NoSchedule and NoExecute and ignores PreferNoSchedule; nothing
// evicts for NoExecute (docs/decisions.md).
var taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// ValidateNodeTaints checks a node's taints as Kubernetes does
// (validateNodeTaints): each key a qualified name, each value a label
// value, an effect of taintEffects, and no two taints with the same key
// and effect.
func ValidateNodeTaints(taints []corev1.Taint, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range taints {
		ip := path.Index(i)
		errs = append(errs, metavalidation.ValidateLabelName(t.Key, ip.Child("key"))...)
		if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
			errs = append(errs, field.Invalid(ip.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(t.Effect, false, ip.Child("effect"))...)
		if seen[t.Effect].Has(t.Key) {
			dup := field.Duplicate(ip, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if seen[t.Effect] == nil {
			seen[t.Effect] = sets.New[string]()
		}
		seen[t.Effect].Insert(t.Key)
	}
	return errs
}

// validateTaintEffect is Kubernetes' check of a taint's or a toleration's
// effect; a toleration's may be empty (every effect).
func validateTaintEffect(effect corev1.TaintEffect, allowEmpty bool, path *field.Path) field.ErrorList {
	if effect == "" {
		if allowEmpty {
			return nil
		}
		return field.ErrorList{field.Required(path, "")}
	}
	if !slices.Contains(taintEffects, effect) {
		return field.ErrorList{field.NotSupported(path, effect, taintEffects)}
	}
	return nil
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

// DefaultEventTTL is how long an event lives after its last update unless
// the server is told otherwise (Kubernetes' --event-ttl).
const DefaultEventTTL = time.Hour

// EventStrategy is the events resource (core/v1 Event). Events expire
// EventTTL after their last update (an etcd lease, TTLStrategy).
type EventStrategy struct {
	// EventTTL defaults to DefaultEventTTL.
	EventTTL time.Duration
}

// TTL is EventTTL for every event.
func (s EventStrategy) TTL(Object) time.Duration {
	if s.EventTTL > 0 {
		return s.EventTTL
	}
	return DefaultEventTTL
}

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
