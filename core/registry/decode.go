// Package registry is where the API server learns what each resource is:
// how to decode it strictly, which fields skiff supports, defaults, and
// validation on create and update. It does not touch etcd.
package registry

import (
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	sigsjson "sigs.k8s.io/json"
)

// MaxObjectBytes bounds one object; larger ones are refused before decoding.
const MaxObjectBytes = 3 << 20

// decodeStrict decodes JSON into v, refusing unknown and duplicate fields.
// Errors name the field by its path.
func decodeStrict(kind string, data []byte, v any) error {
	if len(data) > MaxObjectBytes {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("%s is %d bytes; the limit is %d", kind, len(data), MaxObjectBytes))
	}
	strict, err := sigsjson.UnmarshalStrict(data, v, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", kind, err))
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return apierrors.NewBadRequest(fmt.Sprintf("%s: strict decoding error: %s", kind, strings.Join(msgs, ", ")))
	}
	return nil
}

// supportedFields is an allow-list of field paths. A path ending in ".*"
// allows anything beneath it (maps such as labels). List elements are
// written "[]".
type supportedFields map[string]bool

func newSupportedFields(paths ...string) supportedFields {
	s := supportedFields{}
	for _, p := range paths {
		s[p] = true
	}
	return s
}

// check walks a decoded object (as generic JSON) and returns one error per
// field that is set but not supported by skiff.
func (s supportedFields) check(obj map[string]any) field.ErrorList {
	var errs field.ErrorList
	s.walk(obj, "", nil, &errs)
	return errs
}

func (s supportedFields) walk(node any, pattern string, path *field.Path, errs *field.ErrorList) {
	switch v := node.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			childPattern := joinPattern(pattern, k)
			childPath := childOf(path, k)
			if s[childPattern+".*"] {
				continue
			}
			if !s[childPattern] {
				*errs = append(*errs, field.Forbidden(childPath, "not supported by skiff"))
				continue
			}
			s.walk(v[k], childPattern, childPath, errs)
		}
	case []any:
		for i, el := range v {
			s.walk(el, pattern+"[]", path.Index(i), errs)
		}
	}
}

func joinPattern(pattern, key string) string {
	if pattern == "" {
		return key
	}
	return pattern + "." + key
}

func childOf(path *field.Path, key string) *field.Path {
	if path == nil {
		return field.NewPath(key)
	}
	return path.Child(key)
}

// unsupportedError renders not-supported fields as kubectl users expect:
// `spec.affinity: not supported by skiff`.
func unsupportedError(gk schema.GroupKind, name string, errs field.ErrorList) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Field + ": " + e.Detail
	}
	status := apierrors.NewInvalid(gk, name, errs)
	status.ErrStatus.Message = fmt.Sprintf("%s %q is invalid: %s", gk.Kind, name, strings.Join(msgs, ", "))
	return status
}
