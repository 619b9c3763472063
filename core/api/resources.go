package api

import (
	"fmt"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"strings"
)

// Resource describes one kind of object the API serves.
type Resource struct {
	// Name is the plural, lower-case name used on the wire and in etcd keys.
	Name string
	Kind string
	// Group is the API group ("" is core, the only one served as
	// apiVersion "v1"); every served group is at version v1.
	Group      string
	Namespaced bool
	// Aliases are what a user may type for it (kubectl's short names).
	Aliases []string
}

// Resources the API serves today.
var (
	Pods   = Resource{Name: "pods", Kind: "Pod", Namespaced: true, Aliases: []string{"pod", "po"}}
	Nodes  = Resource{Name: "nodes", Kind: "Node", Namespaced: false, Aliases: []string{"node", "no"}}
	Events = Resource{Name: "events", Kind: "Event", Namespaced: true, Aliases: []string{"event", "ev"}}
	// ConfigMaps and Secrets hold configuration that pods consume as files
	// (volumes) or environment variables. Secrets are encrypted at rest.
	ConfigMaps = Resource{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Aliases: []string{"configmap", "cm"}}
	Secrets    = Resource{Name: "secrets", Kind: "Secret", Namespaced: true, Aliases: []string{"secret"}}
	// Services give a set of pods a stable virtual IP and DNS name;
	// Endpoints, kept by the endpoints controller, list their backends.
	Services  = Resource{Name: "services", Kind: "Service", Namespaced: true, Aliases: []string{"service", "svc"}}
	Endpoints = Resource{Name: "endpoints", Kind: "Endpoints", Namespaced: true, Aliases: []string{"endpoint", "ep"}}
	// Leases (coordination.k8s.io/v1) are how agents heartbeat: one per
	// node in the kube-node-lease namespace, as the kubelet keeps them.
	Leases = Resource{Name: "leases", Kind: "Lease", Group: "coordination.k8s.io", Namespaced: true, Aliases: []string{"lease"}}
	// CertificateSigningRequests (certificates.k8s.io/v1) are how agents
	// renew their client certificates (core/controllers/csr.go).
	CertificateSigningRequests = Resource{Name: "certificatesigningrequests", Kind: "CertificateSigningRequest", Group: "certificates.k8s.io",
		Aliases: []string{"certificatesigningrequest", "csr"}}
)

// NodeLeaseNamespace holds the agents' heartbeat Leases, one per node,
// named after the node.
const NodeLeaseNamespace = "kube-node-lease"

// All lists every served resource.
var All = []Resource{Pods, Nodes, Events, ConfigMaps, Secrets, Services, Endpoints, Leases, CertificateSigningRequests}

// Lookup finds a resource by name, alias or kind (case-insensitive).
func Lookup(name string) (Resource, error) {
	n := strings.ToLower(name)
	for _, r := range All {
		if r.Name == n || strings.ToLower(r.Kind) == n {
			return r, nil
		}
		for _, a := range r.Aliases {
			if a == n {
				return r, nil
			}
		}
	}
	return Resource{}, fmt.Errorf("the server doesn't have a resource type %q", name)
}

// ForKind finds a resource by its Kind ("Pod").
func ForKind(kind string) (Resource, error) {
	for _, r := range All {
		if r.Kind == kind {
			return r, nil
		}
	}
	return Resource{}, fmt.Errorf("no matches for kind %q in version \"v1\"", kind)
}

// ForAPIVersionKind finds a resource by a manifest's apiVersion and kind
// ("v1" "Pod", "coordination.k8s.io/v1" "Lease").
func ForAPIVersionKind(apiVersion, kind string) (Resource, error) {
	r, err := ForKind(kind)
	if err != nil || r.APIVersion() != apiVersion {
		return Resource{}, fmt.Errorf("no matches for kind %q in version %q", kind, apiVersion)
	}
	return r, nil
}

// GroupVersion is the resource's API group at version v1.
func (r Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: "v1"}
}

// QualifiedKind is how kubectl names the kind in its messages: "pod",
// "lease.coordination.k8s.io".
func (r Resource) QualifiedKind() string {
	if r.Group == "" {
		return strings.ToLower(r.Kind)
	}
	return strings.ToLower(r.Kind) + "." + r.Group
}

// APIVersion is what manifests of the resource carry: "v1" for the core
// group, "GROUP/v1" otherwise.
func (r Resource) APIVersion() string { return r.GroupVersion().String() }

// GroupResource is the resource as Kubernetes API errors name it.
func (r Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Name}
}
