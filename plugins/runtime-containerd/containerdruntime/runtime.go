package containerdruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/hashicorp/go-hclog"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Name and Version identify the plugin in Info.
const (
	Name    = "runtime-containerd"
	Version = "0.1.0"
)

// Settings the plugin accepts.
const (
	SettingAddress       = "address"
	SettingNamespace     = "namespace"
	SettingSnapshotter   = "snapshotter"
	SettingPlainHTTPRegs = "plain_http_registries"
	SettingLogDriver     = "log_driver"
)

// settingSpecs are the settings; the log driver's default depends on where
// the plugin's executable is.
func (r *Runtime) settingSpecs() []base.SettingSpec {
	return []base.SettingSpec{
		{Name: SettingAddress, Description: "containerd's socket", Default: "/run/containerd/containerd.sock"},
		{Name: SettingNamespace, Description: "containerd namespace for skiff's images and containers", Default: "skiff"},
		{Name: SettingSnapshotter, Description: "containerd snapshotter for container root filesystems", Default: "overlayfs"},
		{Name: SettingPlainHTTPRegs, Description: "comma-separated registry hosts (host:port) pulled from over plain HTTP"},
		{Name: SettingLogDriver, Description: "absolute path of the log driver the containerd shim runs for each container (" + LogDriverName + ", by default the one beside the plugin's executable)", Default: r.defaultLogDriver},
	}
}

// runcRuntime is the containerd runtime (shim) containers run with.
const runcRuntime = "io.containerd.runc.v2"

// Runtime implements runtime.Runtime on containerd. Make it with New, then
// Configure it.
type Runtime struct {
	defaultLogDriver string
	log              hclog.Logger
	locks            keyedMutex

	mu   sync.Mutex
	conn *conn // nil until Configure
}

var _ runtime.Runtime = (*Runtime)(nil)

// conn is what one Configure set up: the client and the settings it used,
// and the watchers of running tasks started under it.
type conn struct {
	client      *containerd.Client
	namespace   string
	snapshotter string
	plainHTTP   []string
	dataDir     string
	logDriver   string // the log driver's executable

	bg       context.Context // namespaced; ends with the conn
	cancel   context.CancelFunc
	watchers sync.WaitGroup
	mu       sync.Mutex
	watching map[string]bool
}

// Option tunes New.
type Option func(*Runtime)

// WithLogger sets where the plugin logs what it cannot return (errors of
// background work). The default is JSON on stderr, which go-plugin forwards
// to the core.
func WithLogger(l hclog.Logger) Option {
	return func(r *Runtime) { r.log = l }
}

// New returns an unconfigured Runtime.
func New(opts ...Option) *Runtime {
	r := &Runtime{defaultLogDriver: defaultLogDriver()}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = hclog.New(&hclog.LoggerOptions{Name: Name, Output: os.Stderr, JSONFormat: true, Level: hclog.Info})
	}
	return r
}

// Info implements base.Plugin.
func (r *Runtime) Info(context.Context) (base.Info, error) {
	return base.Info{
		Kind:       base.KindRuntime,
		Name:       Name,
		Version:    Version,
		APIVersion: runtime.APIVersion,
		Settings:   r.settingSpecs(),
	}, nil
}

// Configure connects to containerd and adopts what an earlier instance of
// the plugin left running. Calling it again replaces the connection.
func (r *Runtime) Configure(ctx context.Context, cfg base.Config) error {
	set, err := base.ValidateSettings(r.settingSpecs(), cfg.Settings)
	if err != nil {
		return fmt.Errorf("configure %s: %w: %w", Name, base.ErrInvalid, err)
	}
	if cfg.DataDir == "" || !filepath.IsAbs(cfg.DataDir) {
		return fmt.Errorf("configure %s: data dir %q: must be an absolute path: %w", Name, cfg.DataDir, base.ErrInvalid)
	}
	if err := checkLogDriver(set[SettingLogDriver]); err != nil {
		return fmt.Errorf("configure %s: %w", Name, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("configure %s: %w", Name, err)
	}
	c, err := dial(ctx, set, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("configure %s: %w", Name, err)
	}
	r.mu.Lock()
	old := r.conn
	r.conn = c
	r.mu.Unlock()
	if old != nil {
		old.close()
	}
	if err := r.adopt(c.bg, c); err != nil {
		return fmt.Errorf("configure %s: adopting existing containers: %w", Name, err)
	}
	return nil
}

func dial(ctx context.Context, set map[string]string, dataDir string) (*conn, error) {
	addr := set[SettingAddress]
	client, err := containerd.New(addr, containerd.WithDefaultNamespace(set[SettingNamespace]), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd at %q: %w: %w", addr, base.ErrUnavailable, err)
	}
	if _, err := client.Version(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("containerd at %q: %w: %w", addr, base.ErrUnavailable, err)
	}
	bg, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), set[SettingNamespace]))
	return &conn{
		client:      client,
		namespace:   set[SettingNamespace],
		snapshotter: set[SettingSnapshotter],
		plainHTTP:   splitList(set[SettingPlainHTTPRegs]),
		dataDir:     dataDir,
		logDriver:   set[SettingLogDriver],
		bg:          bg,
		cancel:      cancel,
		watching:    map[string]bool{},
	}, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// close stops the conn's watchers and closes its client. Containers keep
// running.
func (c *conn) close() {
	// Under mu, so that no watcher is added once the wait begins.
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	c.watchers.Wait()
	c.client.Close()
}

// Close releases the connection to containerd. Containers, their logs and
// their log drivers are not affected. A plugin binary need not call it; tests
// use it to let go of a Runtime as if its process had ended.
func (r *Runtime) Close() error {
	r.mu.Lock()
	c := r.conn
	r.conn = nil
	r.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}

// begin returns the current connection and ctx in its namespace.
func (r *Runtime) begin(ctx context.Context) (context.Context, *conn, error) {
	r.mu.Lock()
	c := r.conn
	r.mu.Unlock()
	if c == nil {
		return nil, nil, fmt.Errorf("%s: %w (Configure has not been called)", Name, base.ErrNotConfigured)
	}
	return namespaces.WithNamespace(ctx, c.namespace), c, nil
}

// keyedMutex serializes work on one object (a container) at a time.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
