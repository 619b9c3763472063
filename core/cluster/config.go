package cluster

import (
	"fmt"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// Config is kind's cluster config (kind.x-k8s.io/v1alpha4), the part skiff
// implements. Decoding is strict: a field kind has but skiff does not
// implement is an error that names it.
type Config struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	// Name is the cluster's name; --name overrides it.
	Name  string `json:"name,omitempty"`
	Nodes []Node `json:"nodes,omitempty"`
	// Networking is kind's networking section; only podSubnet is used.
	Networking *Networking `json:"networking,omitempty"`
}

// Node is one node of the config.
type Node struct {
	// Role is "control-plane" or "worker".
	Role string `json:"role"`
}

// Networking is kind's networking section.
type Networking struct {
	// PodSubnet is the cluster CIDR (default 10.244.0.0/16).
	PodSubnet string `json:"podSubnet,omitempty"`
}

// Roles of a node.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// DefaultConfig is one control-plane node, as kind's default.
func DefaultConfig() *Config {
	return &Config{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4", Nodes: []Node{{Role: RoleControlPlane}}}
}

// LoadConfig reads and checks a kind config file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig decodes and checks a kind config.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("cluster config: %w (skiff implements kind, apiVersion, name, nodes[].role and networking.podSubnet)", err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("cluster config: want kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4; got kind %q, apiVersion %q", c.Kind, c.APIVersion)
	}
	if len(c.Nodes) == 0 {
		c.Nodes = []Node{{Role: RoleControlPlane}}
	}
	cps := 0
	for i, n := range c.Nodes {
		switch n.Role {
		case RoleControlPlane:
			cps++
		case RoleWorker:
		case "":
			return nil, fmt.Errorf("cluster config: nodes[%d].role: required (control-plane or worker)", i)
		default:
			return nil, fmt.Errorf("cluster config: nodes[%d].role: %q: want control-plane or worker", i, n.Role)
		}
	}
	if cps == 0 {
		return nil, fmt.Errorf("cluster config: no control-plane node: at least one node needs role: control-plane")
	}
	if cps > 7 {
		// etcd's advice: more members make writes slower, not safer.
		return nil, fmt.Errorf("cluster config: %d control-plane nodes: at most 7 (each runs an etcd member)", cps)
	}
	if len(c.Nodes) > 200 {
		return nil, fmt.Errorf("cluster config: %d nodes: at most 200", len(c.Nodes))
	}
	return &c, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// checkName: the name goes into link names ("sk-<name>", at most 15
// characters) and node names.
func checkName(name string) error {
	if !nameRE.MatchString(name) || len(name) > 12 {
		return fmt.Errorf("cluster name %q: want at most 12 lowercase letters, digits and '-'", name)
	}
	return nil
}

// nodeNames are kind's: <name>-control-plane, <name>-control-plane2, ...,
// then <name>-worker, <name>-worker2, ...
func nodeNames(name string, nodes []Node) []nodeSpec {
	var out []nodeSpec
	for _, role := range []string{RoleControlPlane, RoleWorker} {
		k := 0
		for _, n := range nodes {
			if n.Role != role {
				continue
			}
			k++
			nn := name + "-" + role
			if k > 1 {
				nn = fmt.Sprintf("%s-%s%d", name, role, k)
			}
			out = append(out, nodeSpec{Name: nn, Role: role})
		}
	}
	return out
}

// nodeSpec is a node's name and role.
type nodeSpec struct {
	Name string
	Role string
}
