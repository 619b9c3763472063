package agent

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// securityConfig merges the pod's and the container's securityContext the
// way kubelet does (the container's fields win) and applies the node's
// policy on privileged containers.
func (a *Agent) securityConfig(pod *corev1.Pod, c *corev1.Container) (runtime.SecurityConfig, error) {
	var out runtime.SecurityConfig
	if psc := pod.Spec.SecurityContext; psc != nil {
		out.RunAsUser, out.RunAsGroup = psc.RunAsUser, psc.RunAsGroup
		out.RunAsNonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	}
	sc := c.SecurityContext
	if sc == nil {
		return out, nil
	}
	if sc.RunAsUser != nil {
		out.RunAsUser = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = sc.RunAsGroup
	}
	if sc.RunAsNonRoot != nil {
		out.RunAsNonRoot = *sc.RunAsNonRoot
	}
	out.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	out.NoNewPrivileges = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			out.CapAdd = append(out.CapAdd, string(cp))
		}
		for _, cp := range sc.Capabilities.Drop {
			out.CapDrop = append(out.CapDrop, string(cp))
		}
	}
	if sc.Privileged != nil && *sc.Privileged {
		if !a.cfg.AllowPrivileged {
			return out, fmt.Errorf("container %q is privileged, which node %q does not allow (its agent runs without --allow-privileged)", c.Name, a.cfg.NodeName)
		}
		out.Privileged = true
	}
	return out, nil
}
