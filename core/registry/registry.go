package registry

import (
	"encoding/json"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// Object is what every resource type is: a Kubernetes object with metadata.
type Object interface {
	metav1.Object
	runtime.Object
}

// Strategy is everything resource-specific the API server needs.
type Strategy interface {
	Resource() api.Resource
	// New returns an empty object of the resource's type.
	New() Object
	// Decode strictly decodes a request body and refuses unsupported fields.
	Decode(data []byte) (Object, error)
	// PrepareForCreate sets defaults and clears what users may not set.
	PrepareForCreate(obj Object)
	Validate(obj Object) field.ErrorList
	// PrepareForUpdate copies from old what this kind of update may not
	// change. subresource is "" (spec and metadata) or "status".
	PrepareForUpdate(obj, old Object, subresource string) error
	ValidateUpdate(obj, old Object) field.ErrorList
	// Fields is the field set field selectors match against.
	Fields(obj Object) fields.Set
}

// TTLStrategy is implemented by a Strategy whose objects expire: the store
// keeps such an object under an etcd lease of TTL(obj) (0: none), and every
// write starts the clock again.
type TTLStrategy interface {
	TTL(obj Object) time.Duration
}

// Strategies maps resource names to their strategies.
type Strategies map[string]Strategy

// Default returns the strategies of every served resource.
func Default() Strategies {
	s := Strategies{}
	for _, st := range []Strategy{PodStrategy{}, NodeStrategy{}, EventStrategy{}, ConfigMapStrategy{}, SecretStrategy{}, ServiceStrategy{}, EndpointsStrategy{}, LeaseStrategy{}, CSRStrategy{}} {
		s[st.Resource().Name] = st
	}
	return s
}

// Get finds the strategy of a resource name.
func (s Strategies) Get(resource string) (Strategy, error) {
	st, ok := s[resource]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, "")
	}
	return st, nil
}

// PrepareMetaForCreate fills the server-set metadata common to all kinds.
func PrepareMetaForCreate(obj Object, now time.Time) {
	obj.SetUID(types.UID(uuid.NewUUID()))
	obj.SetCreationTimestamp(metav1.NewTime(now))
	obj.SetResourceVersion("")
	obj.SetGeneration(1)
	obj.SetDeletionTimestamp(nil)
	obj.SetDeletionGracePeriodSeconds(nil)
	obj.SetManagedFields(nil)
}

// KeepMetaOnUpdate copies from old the metadata a client may not change.
func KeepMetaOnUpdate(obj, old Object) {
	obj.SetUID(old.GetUID())
	obj.SetCreationTimestamp(old.GetCreationTimestamp())
	obj.SetDeletionTimestamp(old.GetDeletionTimestamp())
	obj.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	obj.SetGeneration(old.GetGeneration())
}

// ValidateMeta checks name, namespace, labels and annotations.
func ValidateMeta(obj Object, namespaced bool, nameFn func(string) []string) field.ErrorList {
	var errs field.ErrorList
	md := field.NewPath("metadata")
	if obj.GetName() == "" {
		errs = append(errs, field.Required(md.Child("name"), "name is required"))
	} else {
		for _, msg := range nameFn(obj.GetName()) {
			errs = append(errs, field.Invalid(md.Child("name"), obj.GetName(), msg))
		}
	}
	if namespaced {
		for _, msg := range validation.IsDNS1123Label(obj.GetNamespace()) {
			errs = append(errs, field.Invalid(md.Child("namespace"), obj.GetNamespace(), msg))
		}
	}
	for k, v := range obj.GetLabels() {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(md.Child("labels"), k, msg))
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			errs = append(errs, field.Invalid(md.Child("labels"), v, msg))
		}
	}
	for k := range obj.GetAnnotations() {
		for _, msg := range validation.IsQualifiedName(k) {
			errs = append(errs, field.Invalid(md.Child("annotations"), k, msg))
		}
	}
	return errs
}

// decodeTyped decodes a core/v1 object into a fresh object of type T (see
// decodeResource).
func decodeTyped[T any, PT interface {
	*T
	Object
}](kind string, data []byte, supported supportedFields) (Object, error) {
	return decodeResource[T, PT](schema.GroupVersionKind{Version: "v1", Kind: kind}, data, supported)
}

// decodeResource decodes into a fresh object of type T, checks the
// apiVersion and kind against gvk, and refuses fields not in the
// allow-list.
func decodeResource[T any, PT interface {
	*T
	Object
}](gvk schema.GroupVersionKind, data []byte, supported supportedFields) (Object, error) {
	kind := gvk.Kind
	var obj T
	p := PT(&obj)
	if err := decodeStrict(kind, data, p); err != nil {
		return nil, err
	}
	tm := p.GetObjectKind().GroupVersionKind()
	if tm.Kind != "" && tm.Kind != kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("kind %q: expected %q", tm.Kind, kind))
	}
	want := gvk.GroupVersion().String()
	if v := tm.GroupVersion().String(); tm.Kind != "" && v != want {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s apiVersion %q: skiff serves only %q", kind, v, want))
	}
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", kind, err))
	}
	// Check what the typed decode kept, so the paths are the user's.
	if errs := supported.check(generic); len(errs) > 0 {
		return nil, unsupportedError(gvk.GroupKind(), p.GetName(), errs)
	}
	p.GetObjectKind().SetGroupVersionKind(gvk)
	return p, nil
}
