package registry

import (
	"bytes"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

var secretSupported = newSupportedFields(append([]string{
	"data.*", "stringData.*", "type", "immutable",
}, metaFields...)...)

// SecretStrategy is the secrets resource. Only type Opaque is served; the
// API server encrypts secrets before they reach etcd (see apiserver).
type SecretStrategy struct{}

func (SecretStrategy) Resource() api.Resource { return api.Secrets }
func (SecretStrategy) New() Object            { return &corev1.Secret{} }

func (SecretStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Secret]("Secret", data, secretSupported)
}

func (SecretStrategy) PrepareForCreate(obj Object) {
	s := obj.(*corev1.Secret)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	mergeStringData(s)
}

// mergeStringData moves stringData into data, as Kubernetes does on write:
// stringData is write-only and wins over data for the same key.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func (SecretStrategy) Validate(obj Object) field.ErrorList {
	s := obj.(*corev1.Secret)
	errs := ValidateMeta(s, true, validation.IsDNS1123Subdomain)
	if s.Type != corev1.SecretTypeOpaque {
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotSupported, Field: "type", BadValue: string(s.Type),
			Detail: fmt.Sprintf("not supported by skiff (supported values: %q)", corev1.SecretTypeOpaque)})
	}
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, validateDataKey(field.NewPath("data").Key(k), k)...)
		size += len(s.Data[k])
	}
	return append(errs, validateDataSize(size)...)
}

func (SecretStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	if subresource != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("secrets: unknown subresource %q", subresource))
	}
	s := obj.(*corev1.Secret)
	KeepMetaOnUpdate(s, old)
	if s.Type == "" {
		s.Type = old.(*corev1.Secret).Type
	}
	mergeStringData(s)
	return nil
}

func (st SecretStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	s, oldS := obj.(*corev1.Secret), old.(*corev1.Secret)
	errs := st.Validate(s)
	if s.Type != oldS.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
	}
	if isTrue(oldS.Immutable) {
		if !isTrue(s.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !maps.EqualFunc(s.Data, oldS.Data, bytes.Equal) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func (SecretStrategy) Fields(obj Object) fields.Set {
	s := obj.(*corev1.Secret)
	return fields.Set{"metadata.name": s.Name, "metadata.namespace": s.Namespace, "type": string(s.Type)}
}
