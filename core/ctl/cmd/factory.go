package cmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
)

// IOStreams are the standard streams of a command.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// ConfigFlags are the global flags that choose the server and namespace.
type ConfigFlags struct {
	ConfigPath string
	Context    string
	Namespace  string
	// Server replaces the context's server address (kubectl's --server),
	// e.g. a load balancer in front of several servers.
	Server string
}

// AddFlags registers the global flags.
func (f *ConfigFlags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.ConfigPath, "config", "", "Path to the skiff client config file (default $"+clientconfig.EnvVar+", then ~/.skiff/config).")
	fs.StringVar(&f.Context, "context", "", "The name of the client config context to use.")
	fs.StringVarP(&f.Namespace, "namespace", "n", "", "If present, the namespace scope for this CLI request.")
	fs.StringVarP(&f.Server, "server", "s", "", "The address and port of the skiff API server (instead of the context's).")
}

// resolve loads the client config the flags name and resolves its context,
// with --server applied. path is the config file's.
func (f *ConfigFlags) resolve() (path string, r clientconfig.Resolved, err error) {
	if path, err = clientconfig.ResolvePath(f.ConfigPath); err != nil {
		return "", r, err
	}
	cfg, err := clientconfig.Load(path)
	if err != nil {
		return path, r, err
	}
	if r, err = cfg.Current(f.Context); err != nil {
		var unset *clientconfig.NoCurrentContextError
		if errors.As(err, &unset) {
			return path, r, err // says alone what to do, as kubectl's
		}
		return path, r, fmt.Errorf("client config %s: %w", path, err)
	}
	if f.Server != "" {
		if r.Cluster.Server, err = serverAddress(f.Server); err != nil {
			return path, r, err
		}
	}
	return path, r, nil
}

// serverAddress is --server as HOST:PORT; kubectl's https://HOST:PORT form
// is taken too (the API is TLS only).
func serverAddress(s string) (string, error) {
	if rest, ok := strings.CutPrefix(s, "https://"); ok {
		s = strings.TrimSuffix(rest, "/")
	} else if strings.Contains(s, "://") {
		return "", fmt.Errorf("--server %q: want HOST:PORT or https://HOST:PORT (the API is served over TLS)", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("--server %q: want HOST:PORT: %w", s, err)
	}
	if n, err := strconv.Atoi(port); host == "" || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--server %q: want HOST:PORT with a port in 1-65535", s)
	}
	return s, nil
}

// Factory gives commands what they need from outside: a connected client,
// the namespace to work in, and the clock.
type Factory interface {
	// Client connects (once) to the server of the chosen context.
	Client() (*client.Client, error)
	// Namespace is -n, else the context's namespace, else "default";
	// explicit reports whether -n was given.
	Namespace() (ns string, explicit bool)
	Now() time.Time
}

// NewFactory returns the factory main uses: it reads the client config
// named by the flags.
func NewFactory(flags *ConfigFlags) Factory { return &configFactory{flags: flags} }

type configFactory struct {
	flags *ConfigFlags
	once  sync.Once
	c     *client.Client
	err   error
}

func (f *configFactory) Client() (*client.Client, error) {
	f.once.Do(func() { f.c, f.err = f.connect() })
	return f.c, f.err
}

// connect is client.FromFile with --server, and an unset current-context
// reported alone, with what to do about it, as kubectl reports it.
func (f *configFactory) connect() (*client.Client, error) {
	_, r, err := f.flags.resolve()
	if err != nil {
		return nil, err
	}
	return client.New(r)
}

func (f *configFactory) Namespace() (string, bool) {
	if f.flags.Namespace != "" {
		return f.flags.Namespace, true
	}
	if ns := f.contextNamespace(); ns != "" {
		return ns, false
	}
	return "default", false
}

// contextNamespace reads the namespace of the context without connecting,
// so that client-only commands work without a server.
func (f *configFactory) contextNamespace() string {
	_, r, err := f.flags.resolve()
	if err != nil {
		return ""
	}
	return r.Context.Namespace
}

func (f *configFactory) Now() time.Time { return time.Now() }
