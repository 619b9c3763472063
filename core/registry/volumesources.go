package registry

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Validation of the pod fields that consume ConfigMaps and Secrets
// (volumes, env, envFrom) and of the paths a manifest gives for files on the
// node (items[].path, subPath, hostPath.path). The node checks every path
// again before it writes or mounts anything: this is the first line.

// volumeSources is what skiff serves; any other source is refused by the
// allow-list while decoding.
const volumeSources = "emptyDir, configMap, secret and hostPath"

func validateVolumeSource(vs corev1.VolumeSource, p *field.Path) field.ErrorList {
	n := 0
	for _, set := range []bool{vs.EmptyDir != nil, vs.ConfigMap != nil, vs.Secret != nil, vs.HostPath != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return field.ErrorList{field.Required(p, "a volume source is required (skiff supports "+volumeSources+")")}
	case n > 1:
		return field.ErrorList{field.Forbidden(p, "may not specify more than 1 volume type")}
	}
	var errs field.ErrorList
	switch {
	case vs.ConfigMap != nil:
		cp := p.Child("configMap")
		errs = append(errs, validateObjectRef(vs.ConfigMap.Name, cp.Child("name"))...)
		errs = append(errs, validateProjection(vs.ConfigMap.Items, vs.ConfigMap.DefaultMode, cp)...)
	case vs.Secret != nil:
		sp := p.Child("secret")
		errs = append(errs, validateObjectRef(vs.Secret.SecretName, sp.Child("secretName"))...)
		errs = append(errs, validateProjection(vs.Secret.Items, vs.Secret.DefaultMode, sp)...)
	case vs.HostPath != nil:
		errs = append(errs, validateHostPath(vs.HostPath, p.Child("hostPath"))...)
	}
	return errs
}

// validateObjectRef checks the name of a referenced ConfigMap or Secret.
func validateObjectRef(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(p, name, msg))
	}
	return errs
}

// validateProjection checks items (key -> path, mode) and defaultMode.
func validateProjection(items []corev1.KeyToPath, defaultMode *int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if defaultMode != nil {
		errs = append(errs, validateFileMode(*defaultMode, p.Child("defaultMode"))...)
	}
	paths := sets.New[string]()
	for i, it := range items {
		ip := p.Child("items").Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		} else {
			errs = append(errs, validateDataKey(ip.Child("key"), it.Key)...)
		}
		if it.Path == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		} else {
			errs = append(errs, validateLocalNonReservedPath(it.Path, ip.Child("path"))...)
			if clean := path.Clean(it.Path); paths.Has(clean) {
				errs = append(errs, field.Duplicate(ip.Child("path"), it.Path))
			} else {
				paths.Insert(clean)
			}
		}
		if it.Mode != nil {
			errs = append(errs, validateFileMode(*it.Mode, ip.Child("mode"))...)
		}
	}
	return errs
}

func validateFileMode(mode int32, p *field.Path) field.ErrorList {
	if mode < 0 || mode > 0o777 {
		return field.ErrorList{field.Invalid(p, mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// validateLocalDescendingPath is Kubernetes' check of a path inside a
// volume (subPath): relative, and without ".." elements.
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) || strings.HasPrefix(target, `\`) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	errs = append(errs, validatePathNoBacksteps(target, p)...)
	return errs
}

// validateLocalNonReservedPath also keeps item paths from starting with
// "..", which the atomic-update layout of a volume reserves ("..data").
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

func validatePathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, elem := range strings.Split(strings.ReplaceAll(target, `\`, "/"), "/") {
		if elem == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

var hostPathTypes = []string{
	string(corev1.HostPathUnset), string(corev1.HostPathDirectoryOrCreate), string(corev1.HostPathDirectory),
	string(corev1.HostPathFileOrCreate), string(corev1.HostPathFile), string(corev1.HostPathSocket),
	string(corev1.HostPathCharDev), string(corev1.HostPathBlockDev),
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case hp.Path == "":
		errs = append(errs, field.Required(p.Child("path"), ""))
	case !path.IsAbs(hp.Path):
		errs = append(errs, field.Invalid(p.Child("path"), hp.Path, "must be an absolute path"))
	default:
		errs = append(errs, validatePathNoBacksteps(hp.Path, p.Child("path"))...)
	}
	if hp.Type != nil && !sets.New(hostPathTypes...).Has(string(*hp.Type)) {
		errs = append(errs, field.NotSupported(p.Child("type"), *hp.Type, hostPathTypes[1:]))
	}
	return errs
}

// validateEnvVarSource checks env[].valueFrom: exactly one of
// configMapKeyRef and secretKeyRef (the only sources skiff serves), with a
// name and a key.
func validateEnvVarSource(e corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if e.Value != "" {
		errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
	}
	vp := p.Child("valueFrom")
	vf := e.ValueFrom
	switch {
	case vf.ConfigMapKeyRef != nil && vf.SecretKeyRef != nil:
		errs = append(errs, field.Invalid(vp, "", "may not have more than one field specified at a time"))
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		errs = append(errs, validateObjectRef(r.Name, vp.Child("configMapKeyRef", "name"))...)
		errs = append(errs, validateRefKey(r.Key, vp.Child("configMapKeyRef", "key"))...)
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		errs = append(errs, validateObjectRef(r.Name, vp.Child("secretKeyRef", "name"))...)
		errs = append(errs, validateRefKey(r.Key, vp.Child("secretKeyRef", "key"))...)
	default:
		errs = append(errs, field.Invalid(vp, "", "must specify one of: `configMapKeyRef` or `secretKeyRef`"))
	}
	return errs
}

func validateRefKey(key string, p *field.Path) field.ErrorList {
	if key == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateDataKey(p, key)
}

// validateEnvFrom checks envFrom: one source each, and a prefix that can
// start an environment variable name.
func validateEnvFrom(envFrom []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ef := range envFrom {
		ep := p.Index(i)
		if ef.Prefix != "" {
			for _, msg := range validation.IsEnvVarName(ef.Prefix) {
				errs = append(errs, field.Invalid(ep.Child("prefix"), ef.Prefix, msg))
			}
		}
		switch {
		case ef.ConfigMapRef != nil && ef.SecretRef != nil:
			errs = append(errs, field.Invalid(ep, "", "may not have more than one field specified at a time"))
		case ef.ConfigMapRef != nil:
			errs = append(errs, validateObjectRef(ef.ConfigMapRef.Name, ep.Child("configMapRef", "name"))...)
		case ef.SecretRef != nil:
			errs = append(errs, validateObjectRef(ef.SecretRef.Name, ep.Child("secretRef", "name"))...)
		default:
			errs = append(errs, field.Invalid(ep, "", "must specify one of: `configMapRef` or `secretRef`"))
		}
	}
	return errs
}
