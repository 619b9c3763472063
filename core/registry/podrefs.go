package registry

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
)

// PodConfigRef names a ConfigMap or Secret a pod uses.
type PodConfigRef struct {
	// Resource is api.ConfigMaps.Name or api.Secrets.Name.
	Resource  string
	Namespace string
	Name      string
}

// PodConfigRefs lists the ConfigMaps and Secrets a pod reads, through
// every field skiff serves: configMap and secret volumes, env valueFrom
// and envFrom, of init and app containers. Duplicates are left in.
func PodConfigRefs(pod *corev1.Pod) []PodConfigRef {
	var refs []PodConfigRef
	add := func(resource, name string) {
		if name != "" {
			refs = append(refs, PodConfigRef{Resource: resource, Namespace: pod.Namespace, Name: name})
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			add(api.ConfigMaps.Name, v.ConfigMap.Name)
		}
		if v.Secret != nil {
			add(api.Secrets.Name, v.Secret.SecretName)
		}
	}
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add(api.ConfigMaps.Name, r.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add(api.Secrets.Name, r.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				add(api.ConfigMaps.Name, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil {
				add(api.Secrets.Name, ef.SecretRef.Name)
			}
		}
	}
	return refs
}
