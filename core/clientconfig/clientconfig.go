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
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
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

// Write stores the config with mode 0600, making its directory. The file
// is replaced atomically: the new contents go to a temporary file beside it
// (mode 0600 from the start, synced) that is then renamed over it, so a
// reader never sees half a file and a crash leaves the old one. When path
// is a symbolic link, the file it points at is replaced.
func (c *Config) Write(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	dst := path
	if target, err := filepath.EvalSymlinks(path); err == nil {
		dst = target
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make directory for %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done { // a second Close after a failed one is harmless
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600; Chmod says so whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("write client config %s: %w", path, err)
	}
	done = true
	// Make the rename durable; best effort, not every filesystem can.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Modify reads the config at path, lets change edit it and writes it back
// (as Write does), holding an exclusive lock on PATH.lock throughout, so
// that two writers at once (skiffctl config, cluster create and delete,
// skiffd merging its admin config) cannot lose each other's change. A file
// that does not exist is an empty config when missingOK, else an error. A
// config made from nothing gets apiVersion and kind. When change fails,
// nothing is written.
func Modify(path string, missingOK bool, change func(*Config) error) error {
	unlock, err := lockFile(path)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := Load(path)
	switch {
	case err == nil:
	case missingOK && errors.Is(err, os.ErrNotExist):
		c = &Config{}
	default:
		return err
	}
	if err := change(c); err != nil {
		return err
	}
	if c.APIVersion == "" {
		c.APIVersion = "skiff.dev/v1"
	}
	if c.Kind == "" {
		c.Kind = "Config"
	}
	return c.Write(path)
}

// lockFile takes an exclusive flock on PATH.lock beside the file path
// resolves to, making the directory if needed. The lock file stays: removing
// it would let a waiter lock a file that is no longer the lock.
func lockFile(path string) (unlock func(), err error) {
	dst := path
	if target, err := filepath.EvalSymlinks(path); err == nil {
		dst = target
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return nil, fmt.Errorf("make directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(dst+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock client config %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock client config %s: %w", path, err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// RemoveContext drops the context name and the cluster and user entries of
// the same name (how Merge and New name them); the current context is
// cleared when it was name.
func (c *Config) RemoveContext(name string) {
	c.Clusters = slices.DeleteFunc(c.Clusters, func(x Cluster) bool { return x.Name == name })
	c.Users = slices.DeleteFunc(c.Users, func(x User) bool { return x.Name == name })
	c.Contexts = slices.DeleteFunc(c.Contexts, func(x Context) bool { return x.Name == name })
	if c.CurrentContext == name {
		c.CurrentContext = ""
	}
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

// NoCurrentContextError is Current's error when no context is named and
// current-context is empty, as `skiffctl cluster delete` leaves it when it
// removes the current context. It lists the contexts there are.
type NoCurrentContextError struct {
	Contexts []string
}

func (e *NoCurrentContextError) Error() string {
	if len(e.Contexts) == 0 {
		return "current-context is not set and the client config has no contexts: start a cluster with `skiffd dev` or `skiffctl cluster create`"
	}
	return fmt.Sprintf("current-context is not set; use 'skiffctl config use-context NAME' (contexts: %s)", strings.Join(e.Contexts, ", "))
}

// ContextNames are the names of the contexts, sorted.
func (c *Config) ContextNames() []string {
	names := make([]string, 0, len(c.Contexts))
	for _, cx := range c.Contexts {
		names = append(names, cx.Name)
	}
	sort.Strings(names)
	return names
}

// Context returns the context called name, or nil.
func (c *Config) Context(name string) *Context {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i]
		}
	}
	return nil
}

// Current resolves the current context (or the named one when name != "").
// With neither, the error is a *NoCurrentContextError.
func (c *Config) Current(name string) (Resolved, error) {
	if name == "" {
		name = c.CurrentContext
	}
	if name == "" {
		return Resolved{}, &NoCurrentContextError{Contexts: c.ContextNames()}
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
