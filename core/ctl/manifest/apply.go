package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// LastAppliedAnnotation holds the manifest a client-side apply last sent.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// ignoredTopLevel are the fields apply never takes from a manifest into a
// merge: identity, server-owned metadata (merged separately) and status.
var ignoredTopLevel = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "status": true}

// LastApplied is the value kubectl stores in the last-applied annotation:
// the manifest without that annotation, as compact JSON with sorted keys
// and a trailing newline. metadata.annotations is kept even when empty.
func LastApplied(obj map[string]any) (string, error) {
	c := deepCopy(obj).(map[string]any)
	md := ensureMap(c, "metadata")
	ann := ensureMap(md, "annotations")
	delete(ann, LastAppliedAnnotation)
	pruneNulls(c)
	data, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode last-applied configuration: %w", err)
	}
	return string(data) + "\n", nil
}

// SetAnnotation sets metadata.annotations[key] on obj.
func SetAnnotation(obj map[string]any, key, value string) {
	ann := ensureMap(ensureMap(obj, "metadata"), "annotations")
	ann[key] = value
}

// Annotation reads metadata.annotations[key].
func Annotation(obj map[string]any, key string) string {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	v, _ := ann[key].(string)
	return v
}

// PrepareCreate returns the object a first apply creates: the manifest,
// nulls pruned, with its last-applied annotation.
func PrepareCreate(desired map[string]any) (map[string]any, error) {
	out := deepCopy(desired).(map[string]any)
	la, err := LastApplied(out)
	if err != nil {
		return nil, err
	}
	SetAnnotation(out, LastAppliedAnnotation, la)
	pruneNulls(out)
	return out, nil
}

// Unchanged reports whether applying desired (which carries its new
// last-applied annotation) would change nothing on live: every field the
// manifest sets — outside metadata, plus labels and annotations — already
// has that value on the server. Fields only the server set do not count.
func Unchanged(live, desired map[string]any) bool {
	for k, dv := range desired {
		if ignoredTopLevel[k] {
			continue
		}
		if !subset(dv, live[k]) {
			return false
		}
	}
	dmd, _ := desired["metadata"].(map[string]any)
	lmd, _ := live["metadata"].(map[string]any)
	for _, k := range []string{"labels", "annotations"} {
		if !subset(dmd[k], lmd[k]) {
			return false
		}
	}
	return true
}

// subset reports whether every value set in want is equal in have.
func subset(want, have any) bool {
	switch w := want.(type) {
	case nil:
		return true
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return len(w) == 0 && have == nil
		}
		for k, v := range w {
			if !subset(v, h[k]) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return len(w) == 0 && have == nil
		}
		for i := range w {
			if !subset(w[i], h[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(want, have)
}

// Merge computes the object an apply update sends: live, with every field
// of desired set, and every field the previous apply (original, the old
// last-applied manifest; may be nil) set but desired dropped removed.
// Lists of named objects (containers, volumes, env) merge by name so the
// server's defaults on kept items survive; other lists are replaced.
func Merge(live, desired, original map[string]any) map[string]any {
	out := deepCopy(live).(map[string]any)
	for k, dv := range desired {
		if !ignoredTopLevel[k] {
			setOrDelete(out, k, merge(out[k], dv, lookup(original, k)))
		}
	}
	for k := range original {
		if _, kept := desired[k]; !kept && !ignoredTopLevel[k] {
			delete(out, k)
		}
	}
	omd := ensureMap(out, "metadata")
	dmd, _ := desired["metadata"].(map[string]any)
	origMD, _ := original["metadata"].(map[string]any)
	for _, k := range []string{"labels", "annotations"} {
		setOrDelete(omd, k, merge(omd[k], orEmpty(dmd[k]), lookup(origMD, k)))
		if m, ok := omd[k].(map[string]any); ok && len(m) == 0 {
			delete(omd, k)
		}
	}
	return out
}

func merge(live, desired, original any) any {
	switch d := desired.(type) {
	case nil:
		return nil
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return pruned(d)
		}
		out := deepCopy(l).(map[string]any)
		o, _ := original.(map[string]any)
		for k, dv := range d {
			setOrDelete(out, k, merge(l[k], dv, lookup(o, k)))
		}
		for k := range o {
			if _, kept := d[k]; !kept {
				delete(out, k)
			}
		}
		return out
	case []any:
		if l, ok := live.([]any); ok && namedList(d) && namedList(l) {
			o, _ := original.([]any)
			return mergeNamed(l, d, o)
		}
		return deepCopy(pruned(d))
	}
	return desired
}

// mergeNamed merges lists of objects keyed by "name": desired's items in
// its order, each merged into the live item of that name; live items that
// neither desired nor the previous apply named stay at the end.
func mergeNamed(live, desired, original []any) []any {
	var out []any
	for _, d := range desired {
		name := itemName(d)
		out = append(out, merge(findNamed(live, name), d, findNamed(original, name)))
	}
	for _, l := range live {
		name := itemName(l)
		if findNamed(desired, name) == nil && findNamed(original, name) == nil {
			out = append(out, deepCopy(l))
		}
	}
	return out
}

func namedList(list []any) bool {
	if len(list) == 0 {
		return false
	}
	for _, it := range list {
		if itemName(it) == "" {
			return false
		}
	}
	return true
}

func itemName(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["name"].(string)
	return s
}

func findNamed(list []any, name string) any {
	for _, it := range list {
		if itemName(it) == name {
			return it
		}
	}
	return nil
}

func lookup(m map[string]any, k string) any {
	if m == nil {
		return nil
	}
	return m[k]
}

func orEmpty(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func setOrDelete(m map[string]any, k string, v any) {
	if v == nil {
		delete(m, k)
		return
	}
	m[k] = v
}

func ensureMap(m map[string]any, k string) map[string]any {
	if v, ok := m[k].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[k] = v
	return v
}

func pruned(v any) any {
	c := deepCopy(v)
	if m, ok := c.(map[string]any); ok {
		pruneNulls(m)
	}
	return c
}

// pruneNulls removes null fields, as kubectl does before it creates.
func pruneNulls(m map[string]any) {
	for k, v := range m {
		if v == nil {
			delete(m, k)
			continue
		}
		pruneValue(v)
	}
}

func pruneValue(v any) {
	switch t := v.(type) {
	case map[string]any:
		pruneNulls(t)
	case []any:
		for _, e := range t {
			pruneValue(e)
		}
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
