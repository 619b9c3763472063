// Package clientconfig reads and writes skiff client configs: the
// kubeconfig-like file that says which server to reach and with which
// credentials. skiffctl looks for it in --config, then $SKIFFCONFIG, then
// ~/.skiff/config.
package clientconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// EnvVar names the environment variable that points at a config file.
const EnvVar = "SKIFFCONFIG"

// Config is a client config file.
type Config struct {
	APIVersion     string    `json:"apiVersion"`
	Kind           string    `json:"kind"`
	CurrentContext string    `json:"current-context"`
	Clusters       []Cluster `json:"clusters"`
	Users          []User    `json:"users"`
	Contexts       []Context `json:"contexts"`
}

// Cluster is a server and the CA that signed its certificate.
type Cluster struct {
	Name                     string `json:"name"`
	Server                   string `json:"server"`
	CertificateAuthorityData []byte `json:"certificate-authority-data"`
}

// User is a set of credentials.
type User struct {
	Name                  string `json:"name"`
	ClientCertificateData []byte `json:"client-certificate-data,omitempty"`
	ClientKeyData         []byte `json:"client-key-data,omitempty"`
}

// Context pairs a cluster with a user and a default namespace.
type Context struct {
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	User      string `json:"user"`
	Namespace string `json:"namespace,omitempty"`
}

// New makes a config with one cluster, user and context, all named name.
func New(name, server string, caPEM, certPEM, keyPEM []byte) *Config {
	return &Config{
		APIVersion:     "skiff.dev/v1",
		Kind:           "Config",
		CurrentContext: name,
		Clusters:       []Cluster{{Name: name, Server: server, CertificateAuthorityData: caPEM}},
		Users:          []User{{Name: name, ClientCertificateData: certPEM, ClientKeyData: keyPEM}},
		Contexts:       []Context{{Name: name, Cluster: name, User: name, Namespace: "default"}},
	}
}

// DefaultPath is ~/.skiff/config.
func DefaultPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home directory: %w", err)
	}
	return filepath.Join(home, ".skiff", "config"), nil
}

// ResolvePath picks the config file: explicit, then $SKIFFCONFIG, then the default.
func ResolvePath(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := os.Getenv(EnvVar); p != "" {
		return p, nil
	}
	return DefaultPath()
}

// Load reads a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("client config %s does not exist: start a cluster with `skiffd dev` or pass --config: %w", path, err)
		}
		return nil, fmt.Errorf("read client config %s: %w", path, err)
	}
	var c Config
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		return nil, fmt.Errorf("parse client config %s: %w", path, err)
	}
	return &c, nil
}

// Write stores the config with mode 0600, making its directory.
func (c *Config) Write(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("make directory for %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	return nil
}

// Merge adds (or replaces by name) other's clusters, users and contexts into
// c and makes other's current context current.
func (c *Config) Merge(other *Config) {
	for _, cl := range other.Clusters {
		c.Clusters = replaceCluster(c.Clusters, cl)
	}
	for _, u := range other.Users {
		c.Users = replaceUser(c.Users, u)
	}
	for _, cx := range other.Contexts {
		c.Contexts = replaceContext(c.Contexts, cx)
	}
	c.CurrentContext = other.CurrentContext
	if c.APIVersion == "" {
		c.APIVersion, c.Kind = other.APIVersion, other.Kind
	}
}

func replaceCluster(list []Cluster, v Cluster) []Cluster {
	for i := range list {
		if list[i].Name == v.Name {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

func replaceUser(list []User, v User) []User {
	for i := range list {
		if list[i].Name == v.Name {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

func replaceContext(list []Context, v Context) []Context {
	for i := range list {
		if list[i].Name == v.Name {
			list[i] = v
			return list
		}
	}
	return append(list, v)
}

// Resolved is the current context with its cluster and user looked up.
type Resolved struct {
	Context Context
	Cluster Cluster
	User    User
}

// Current resolves the current context (or the named one when name != "").
func (c *Config) Current(name string) (Resolved, error) {
	if name == "" {
		name = c.CurrentContext
	}
	var r Resolved
	found := false
	for _, cx := range c.Contexts {
		if cx.Name == name {
			r.Context, found = cx, true
		}
	}
	if !found {
		return r, fmt.Errorf("context %q not found in client config", name)
	}
	found = false
	for _, cl := range c.Clusters {
		if cl.Name == r.Context.Cluster {
			r.Cluster, found = cl, true
		}
	}
	if !found {
		return r, fmt.Errorf("context %q: cluster %q not found", name, r.Context.Cluster)
	}
	found = false
	for _, u := range c.Users {
		if u.Name == r.Context.User {
			r.User, found = u, true
		}
	}
	if !found {
		return r, fmt.Errorf("context %q: user %q not found", name, r.Context.User)
	}
	return r, nil
}

// TLSConfig builds the client TLS configuration for the resolved context.
func (r Resolved) TLSConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(r.Cluster.CertificateAuthorityData) {
		return nil, fmt.Errorf("cluster %q: certificate-authority-data holds no certificate", r.Cluster.Name)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if len(r.User.ClientCertificateData) > 0 {
		cert, err := tls.X509KeyPair(r.User.ClientCertificateData, r.User.ClientKeyData)
		if err != nil {
			return nil, fmt.Errorf("user %q: client certificate: %w", r.User.Name, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
