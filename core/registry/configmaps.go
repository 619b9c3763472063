package registry

import (
	"bytes"
	"fmt"
	"maps"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// MaxDataBytes bounds the data of one ConfigMap or Secret, as Kubernetes
// does (corev1.MaxSecretSize): what a pod's volume or environment may hold.
const MaxDataBytes = corev1.MaxSecretSize

var configMapSupported = newSupportedFields(append([]string{
	"data.*", "binaryData.*", "immutable",
}, metaFields...)...)

// ConfigMapStrategy is the configmaps resource.
type ConfigMapStrategy struct{}

func (ConfigMapStrategy) Resource() api.Resource { return api.ConfigMaps }
func (ConfigMapStrategy) New() Object            { return &corev1.ConfigMap{} }

func (ConfigMapStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.ConfigMap]("ConfigMap", data, configMapSupported)
}

func (ConfigMapStrategy) PrepareForCreate(Object) {}

func (ConfigMapStrategy) Validate(obj Object) field.ErrorList {
	cm := obj.(*corev1.ConfigMap)
	errs := ValidateMeta(cm, true, validation.IsDNS1123Subdomain)
	size := 0
	for _, k := range sortedKeys(cm.Data) {
		errs = append(errs, validateDataKey(field.NewPath("data").Key(k), k)...)
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		p := field.NewPath("binaryData").Key(k)
		errs = append(errs, validateDataKey(p, k)...)
		if _, dup := cm.Data[k]; dup {
			errs = append(errs, field.Invalid(p, k, "duplicate of key present in data"))
		}
		size += len(cm.BinaryData[k])
	}
	return append(errs, validateDataSize(size)...)
}

func (ConfigMapStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	if subresource != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("configmaps: unknown subresource %q", subresource))
	}
	KeepMetaOnUpdate(obj, old)
	return nil
}

func (s ConfigMapStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
	errs := s.Validate(cm)
	if isTrue(oldCM.Immutable) {
		if !isTrue(cm.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !maps.Equal(cm.Data, oldCM.Data) || !maps.EqualFunc(cm.BinaryData, oldCM.BinaryData, bytes.Equal) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func (ConfigMapStrategy) Fields(obj Object) fields.Set {
	return fields.Set{"metadata.name": obj.GetName(), "metadata.namespace": obj.GetNamespace()}
}

// validateDataKey checks a key of a ConfigMap or Secret: it becomes a file
// name in volumes, so Kubernetes' IsConfigMapKey ([-._a-zA-Z0-9]+, not "."
// or "..", not starting with "..").
func validateDataKey(path *field.Path, key string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(path, key, msg))
	}
	return errs
}

func validateDataSize(size int) field.ErrorList {
	if size > MaxDataBytes {
		return field.ErrorList{field.TooLong(field.NewPath("data"), "", MaxDataBytes)}
	}
	return nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
