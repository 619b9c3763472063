// Package pluginhost launches and supervises plugin processes.
//
// For each kind the host starts the configured binary through go-plugin,
// checks the handshake and the negotiated API version, checks the plugin's
// identity, validates and hands it its settings, and then watches it: a
// plugin that exits is restarted with exponential back-off (1 s doubling to
// 30 s, reset after a minute of health), and the kind's OnRestart hooks run
// so its owner can replay state into the new process. Calls made while a
// plugin is down fail fast with base.ErrUnavailable; they never hang.
//
// Plugin stderr (hclog JSON) and anything a plugin prints to stdout go to
// <LogDir>/<kind>.log.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
)

// Spec says how to run the plugin of one kind.
type Spec struct {
	Kind base.Kind
	// Path is the plugin binary.
	Path string
	// Versions is the kind's ClientVersions(): the API versions the core
	// speaks, and the go-plugin shims for each.
	Versions map[int]plugin.Plugin
	// Settings are validated against what the plugin reports.
	Settings map[string]string
	// DataDir is the plugin's own state directory.
	DataDir string
}

// Status is what `skiffctl plugin ls` shows of one plugin.
type Status struct {
	Kind       base.Kind
	Name       string
	Version    string
	APIVersion int
	Path       string
	PID        int
	Restarts   int
	Healthy    bool
	Since      time.Time
	Message    string
}

// Host supervises one plugin per kind for one node (or for the server).
type Host struct {
	nodeName string
	logDir   string
	logger   hclog.Logger

	mu      sync.Mutex
	plugins map[base.Kind]*supervised
	hooks   map[base.Kind][]func(context.Context)
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

type supervised struct {
	spec     Spec
	client   *plugin.Client
	impl     any
	info     base.Info
	pid      int
	restarts int
	healthy  bool
	since    time.Time
	message  string
	logFile  *os.File
}

// New makes a host for the node (nodeName may be "" for server plugins).
func New(nodeName, logDir string) *Host {
	return &Host{
		nodeName: nodeName,
		logDir:   logDir,
		logger:   hclog.New(&hclog.LoggerOptions{Name: "pluginhost", Level: hclog.Warn, Output: os.Stderr}),
		plugins:  map[base.Kind]*supervised{},
		hooks:    map[base.Kind][]func(context.Context){},
	}
}

// DefaultPluginDir is the directory beside the running executable.
func DefaultPluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

// OnRestart registers fn to run after the plugin of kind was restarted and
// configured (not after the first start).
func (h *Host) OnRestart(kind base.Kind, fn func(context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks[kind] = append(h.hooks[kind], fn)
}

// Start launches every plugin and begins supervising them. It fails if any
// plugin cannot start, speaks no common API version, or refuses its
// settings; plugins already started are then stopped.
func (h *Host) Start(ctx context.Context, specs []Spec) error {
	if err := os.MkdirAll(h.logDir, 0o755); err != nil {
		return fmt.Errorf("plugin log dir %s: %w", h.logDir, err)
	}
	// Launch in parallel: each start is a process exec plus a handshake.
	sps := make([]*supervised, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		sps[i] = &supervised{spec: spec}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.launch(ctx, sps[i])
		}()
	}
	wg.Wait()
	h.mu.Lock()
	for _, sp := range sps {
		h.plugins[sp.spec.Kind] = sp
	}
	h.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		h.Stop()
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.supervise(sctx)
	}()
	return nil
}

// launch starts the plugin process of sp and configures it.
func (h *Host) launch(ctx context.Context, sp *supervised) error {
	spec := sp.spec
	if _, err := os.Stat(spec.Path); err != nil {
		return fmt.Errorf("%s plugin: binary %s: %w", spec.Kind, spec.Path, err)
	}
	if sp.logFile == nil {
		f, err := os.OpenFile(filepath.Join(h.logDir, string(spec.Kind)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("%s plugin: log file: %w", spec.Kind, err)
		}
		sp.logFile = f
	}
	cmd := exec.Command(spec.Path)
	// The plugin dies with the host; containers do not (they belong to
	// containerd's shims).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cfg := base.ClientConfig(spec.Kind, cmd, spec.Versions)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: string(spec.Kind), Output: sp.logFile, Level: hclog.Debug})
	cfg.SyncStdout = sp.logFile
	cfg.SyncStderr = sp.logFile
	cfg.StartTimeout = 20 * time.Second
	client := plugin.NewClient(cfg)
	impl, err := dispense(client, spec.Kind)
	if err != nil {
		client.Kill()
		return explainStartError(spec, err)
	}
	info, err := configure(ctx, impl, spec, h.nodeName)
	if err != nil {
		client.Kill()
		return err
	}
	h.mu.Lock()
	sp.client, sp.impl, sp.info = client, impl, info
	sp.info.APIVersion = client.NegotiatedVersion()
	sp.pid = pidOf(client)
	sp.healthy, sp.since, sp.message = true, time.Now(), ""
	h.mu.Unlock()
	return nil
}

func dispense(client *plugin.Client, kind base.Kind) (any, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	return rpc.Dispense(string(kind))
}

// explainStartError turns go-plugin's version mismatch into advice.
func explainStartError(spec Spec, err error) error {
	if strings.Contains(err.Error(), "incompatible API version") {
		ours := make([]int, 0, len(spec.Versions))
		for v := range spec.Versions {
			ours = append(ours, v)
		}
		sort.Ints(ours)
		return fmt.Errorf("%s plugin %s: skiff speaks skiff.%s API versions %v but the plugin does not (%v): upgrade the plugin to one built against a matching sdk/%s, or skiff to one that speaks the plugin's version",
			spec.Kind, spec.Path, spec.Kind, ours, err, spec.Kind)
	}
	return fmt.Errorf("%s plugin %s: start: %w", spec.Kind, spec.Path, err)
}

func configure(ctx context.Context, impl any, spec Spec, nodeName string) (base.Info, error) {
	p, ok := impl.(base.Plugin)
	if !ok {
		return base.Info{}, fmt.Errorf("%s plugin %s: does not implement the base plugin contract", spec.Kind, spec.Path)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := p.Info(cctx)
	if err != nil {
		return base.Info{}, fmt.Errorf("%s plugin %s: info: %w", spec.Kind, spec.Path, err)
	}
	if info.Kind != spec.Kind {
		return base.Info{}, fmt.Errorf("plugin %s is a %s plugin, configured as %s", spec.Path, info.Kind, spec.Kind)
	}
	settings, err := base.ValidateSettings(info.Settings, spec.Settings)
	if err != nil {
		return base.Info{}, fmt.Errorf("%s plugin %s: %w", spec.Kind, info.Name, err)
	}
	if err := os.MkdirAll(spec.DataDir, 0o755); err != nil {
		return base.Info{}, fmt.Errorf("%s plugin data dir: %w", spec.Kind, err)
	}
	if err := p.Configure(cctx, base.Config{NodeName: nodeName, DataDir: spec.DataDir, Settings: settings}); err != nil {
		return base.Info{}, fmt.Errorf("%s plugin %s: configure: %w", spec.Kind, info.Name, err)
	}
	return info, nil
}

func pidOf(c *plugin.Client) int {
	if rc := c.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Get returns the current implementation of kind, or an error wrapping
// base.ErrUnavailable while it is down.
func (h *Host) Get(kind base.Kind) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sp, ok := h.plugins[kind]
	if !ok {
		return nil, fmt.Errorf("no %s plugin is configured: %w", kind, base.ErrUnavailable)
	}
	if sp.impl == nil || !sp.healthy {
		return nil, fmt.Errorf("%s plugin is restarting (%s): %w", kind, sp.message, base.ErrUnavailable)
	}
	return sp.impl, nil
}

// Status reports every plugin, in kind order.
func (h *Host) Status() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Status
	for _, kind := range base.Kinds {
		sp, ok := h.plugins[kind]
		if !ok {
			continue
		}
		out = append(out, Status{
			Kind: kind, Name: sp.info.Name, Version: sp.info.Version, APIVersion: sp.info.APIVersion,
			Path: sp.spec.Path, PID: sp.pid, Restarts: sp.restarts, Healthy: sp.healthy,
			Since: sp.since, Message: sp.message,
		})
	}
	return out
}

// Stop kills every plugin and waits for the supervisor to end.
func (h *Host) Stop() {
	if h.stop != nil {
		h.stop()
	}
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sp := range h.plugins {
		if sp.client != nil {
			sp.client.Kill()
		}
		if sp.logFile != nil {
			sp.logFile.Close()
		}
	}
}

const (
	checkInterval  = 500 * time.Millisecond
	minBackoff     = time.Second
	maxBackoff     = 30 * time.Second
	healthyToReset = time.Minute
)

// supervise checks every plugin and restarts the ones that died.
func (h *Host) supervise(ctx context.Context) {
	backoff := map[base.Kind]time.Duration{}
	next := map[base.Kind]time.Time{}
	t := time.NewTicker(checkInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, kind := range base.Kinds {
			h.mu.Lock()
			sp, ok := h.plugins[kind]
			h.mu.Unlock()
			if !ok || h.alive(sp) {
				continue
			}
			if time.Now().Before(next[kind]) {
				continue
			}
			d := nextBackoff(backoff[kind], sp)
			backoff[kind] = d
			next[kind] = time.Now().Add(d)
			h.restart(ctx, sp)
		}
	}
}

func nextBackoff(prev time.Duration, sp *supervised) time.Duration {
	if prev == 0 || time.Since(sp.since) > healthyToReset {
		return minBackoff
	}
	if prev*2 > maxBackoff {
		return maxBackoff
	}
	return prev * 2
}

// alive pings the plugin; a dead one is marked unhealthy.
func (h *Host) alive(sp *supervised) bool {
	h.mu.Lock()
	client := sp.client
	h.mu.Unlock()
	if client != nil && !client.Exited() {
		if rpc, err := client.Client(); err == nil && rpc.Ping() == nil {
			return true
		}
	}
	h.mu.Lock()
	if sp.healthy {
		sp.healthy = false
		sp.message = "plugin process exited"
		sp.since = time.Now()
	}
	h.mu.Unlock()
	return false
}

func (h *Host) restart(ctx context.Context, sp *supervised) {
	if sp.client != nil {
		sp.client.Kill()
	}
	err := h.launch(ctx, sp)
	h.mu.Lock()
	sp.restarts++
	if err != nil {
		sp.message = err.Error()
		h.mu.Unlock()
		h.logger.Warn("plugin restart failed", "kind", sp.spec.Kind, "error", err)
		return
	}
	hooks := append([]func(context.Context){}, h.hooks[sp.spec.Kind]...)
	h.mu.Unlock()
	for _, fn := range hooks {
		fn(ctx)
	}
}

// ErrUnavailable is base.ErrUnavailable, re-exported for callers that only
// import the host.
var ErrUnavailable = base.ErrUnavailable

// IsUnavailable reports whether err means the plugin is down.
func IsUnavailable(err error) bool { return errors.Is(err, base.ErrUnavailable) }
