// Package pluginhost launches and supervises plugin processes.
//
// For each kind the host starts the configured binary through go-plugin,
// checks the handshake and the negotiated API version, checks the plugin's
// identity, validates and hands it its settings, and then watches it:
//
//   - a plugin whose process exits is restarted with exponential back-off
//     (1 s doubling to 30 s, reset after a minute of health), and the kind's
//     OnRestart hooks run so its owner can replay state into the new process;
//   - a plugin that stops answering health checks (a frozen or deadlocked
//     process) is killed and then restarted the same way, so calls in flight
//     to it fail at once with base.ErrUnavailable instead of hanging;
//   - a plugin that crash-loops (Timing.CrashLoopRestarts restarts within
//     Timing.CrashLoopWindow) is marked unhealthy with a message saying so;
//     it keeps being restarted with back-off, and the mark clears once it
//     has stayed up for Timing.HealthyToReset;
//   - Reload starts a new process from the (possibly new) binary, configures
//     it, runs the OnRestart hooks and only then stops the old process, so a
//     plugin can be upgraded without a gap.
//
// Calls made while a plugin is down fail fast with base.ErrUnavailable; they
// never hang. Stop kills every plugin process and reaps it: nothing is left
// behind, also when a plugin ignores the polite shutdown.
//
// Plugin stderr (hclog JSON, re-logged by the host) and anything a plugin
// prints to stdout after its handshake go to <LogDir>/<kind>.log (Logs reads
// it back). Text a plugin prints to stdout before its handshake would break
// the handshake: the start error then says so.
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
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

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
	// Settings are validated against what the plugin reports: a setting the
	// plugin does not declare is an error that names it.
	Settings map[string]string
	// Offered are settings the core offers every plugin of the kind (the
	// containerd socket, the pod bridge): a plugin gets those it declares,
	// and the others are dropped, so an alternative plugin need not accept
	// the default plugin's settings. Settings win over Offered.
	Offered map[string]string
	// Origin says where the spec came from (`profile "dev" in
	// /etc/skiff/config.yaml`); errors about the plugin's binary and
	// settings start with it.
	Origin string
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
	// Healthy is false while the plugin is down or crash-looping.
	Healthy bool
	// CrashLoop is true while the plugin is crash-looping.
	CrashLoop bool
	// Since is when Healthy last changed (or the current process started).
	Since   time.Time
	Message string
}

// Timing tunes supervision. The zero value of a field takes the default
// shown beside it.
type Timing struct {
	CheckInterval time.Duration // 500ms: how often each plugin is checked
	PingTimeout   time.Duration // 2s: how long a health check may take
	// PingFailures failed health checks in a row make a plugin that still
	// runs count as hung: it is killed and restarted. Default 3.
	PingFailures   int
	MinBackoff     time.Duration // 1s: first restart delay
	MaxBackoff     time.Duration // 30s
	HealthyToReset time.Duration // 1m: up this long resets back-off and clears a crash loop
	// CrashLoopRestarts restarts within CrashLoopWindow mark the plugin
	// as crash-looping. Defaults 5 and 1m.
	CrashLoopRestarts int
	CrashLoopWindow   time.Duration
	// StopTimeout bounds the polite shutdown of a process before it is
	// killed. Default 5s.
	StopTimeout time.Duration
	// StartTimeout bounds a plugin's handshake. Default 20s.
	StartTimeout time.Duration
}

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.CheckInterval, 500*time.Millisecond)
	def(&t.PingTimeout, 2*time.Second)
	def(&t.MinBackoff, time.Second)
	def(&t.MaxBackoff, 30*time.Second)
	def(&t.HealthyToReset, time.Minute)
	def(&t.CrashLoopWindow, time.Minute)
	def(&t.StopTimeout, 5*time.Second)
	def(&t.StartTimeout, 20*time.Second)
	if t.PingFailures == 0 {
		t.PingFailures = 3
	}
	if t.CrashLoopRestarts == 0 {
		t.CrashLoopRestarts = 5
	}
	return t
}

// Host supervises one plugin per kind for one node (or for the server).
type Host struct {
	nodeName string
	logDir   string
	logger   hclog.Logger
	// Timing may be changed before Start.
	Timing Timing

	mu      sync.Mutex
	plugins map[base.Kind]*supervised
	hooks   map[base.Kind][]func(context.Context)
	wg      sync.WaitGroup
	stop    context.CancelFunc
}

// supervised is the state of one kind. op serializes what replaces the
// process (restart, reload, stop); mu (the host's) guards the fields that
// Get and Status read.
type supervised struct {
	spec Spec
	op   sync.Mutex

	proc      *proc // nil while down
	info      base.Info
	restarts  int
	crashLoop bool
	pingFails int
	since     time.Time
	message   string
	// lastExit says how the last process ended, for messages.
	lastExit string
	// restartTimes are the recent restarts, for crash-loop detection.
	restartTimes []time.Time
	logFile      *os.File
}

// proc is one plugin process.
type proc struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	impl    any
	info    base.Info
	pid     int
	started time.Time
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

// OnRestart registers fn to run after the plugin of kind was restarted or
// reloaded and configured (not after the first start).
func (h *Host) OnRestart(kind base.Kind, fn func(context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks[kind] = append(h.hooks[kind], fn)
}

// Start launches every plugin and begins supervising them. It fails if any
// plugin cannot start, speaks no common API version, or refuses its
// settings; plugins already started are then stopped.
func (h *Host) Start(ctx context.Context, specs []Spec) error {
	h.Timing = h.Timing.withDefaults()
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
			p, err := h.launch(ctx, sps[i])
			if err == nil {
				h.install(sps[i], p)
			}
			errs[i] = err
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
	for _, sp := range sps {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.supervise(sctx, sp)
		}()
	}
	return nil
}

// prefix is how errors about sp's plugin start.
func (s Spec) prefix() string {
	if s.Origin != "" {
		return s.Origin + ": " + string(s.Kind) + " plugin"
	}
	return string(s.Kind) + " plugin"
}

// launch starts a plugin process for sp and configures it. The process is
// not installed: the caller does that (install), or kills it.
func (h *Host) launch(ctx context.Context, sp *supervised) (*proc, error) {
	spec := sp.spec
	if _, err := os.Stat(spec.Path); err != nil {
		return nil, fmt.Errorf("%s: binary %s: %w", spec.prefix(), spec.Path, err)
	}
	h.mu.Lock()
	if sp.logFile == nil {
		f, err := os.OpenFile(h.LogPath(spec.Kind), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			h.mu.Unlock()
			return nil, fmt.Errorf("%s: log file: %w", spec.prefix(), err)
		}
		sp.logFile = f
	}
	logFile := sp.logFile
	h.mu.Unlock()

	p := &proc{}
	cmd := exec.Command(spec.Path)
	// The plugin dies with the host; containers do not (they belong to
	// containerd's shims). Its own process group keeps the terminal's
	// signals (Ctrl-C) and job control (SIGCONT to a stopped, orphaned
	// group) away from it: the host alone decides its fate.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cfg := base.ClientConfig(spec.Kind, cmd, spec.Versions)
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: string(spec.Kind), Output: logFile, Level: hclog.Debug})
	cfg.SyncStdout = logFile
	cfg.SyncStderr = logFile
	cfg.StartTimeout = h.Timing.withDefaults().StartTimeout
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions,
		grpc.WithChainUnaryInterceptor(p.unaryInterceptor(spec.Kind)),
		grpc.WithChainStreamInterceptor(p.streamInterceptor(spec.Kind)))
	client := plugin.NewClient(cfg)
	p.client, p.cmd = client, cmd
	impl, err := dispense(client, spec.Kind)
	if err != nil {
		h.kill(p)
		return nil, explainStartError(spec, err)
	}
	p.pid = pidOf(client)
	info, err := configure(ctx, impl, spec, h.nodeName)
	if err != nil {
		h.kill(p)
		return nil, err
	}
	info.APIVersion = client.NegotiatedVersion()
	p.impl, p.info, p.started = impl, info, time.Now()
	return p, nil
}

// install makes p the current process of sp.
func (h *Host) install(sp *supervised, p *proc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sp.proc, sp.info, sp.pingFails = p, p.info, 0
	if !sp.crashLoop {
		sp.since, sp.message = p.started, ""
	}
}

func dispense(client *plugin.Client, kind base.Kind) (any, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	return rpc.Dispense(string(kind))
}

// explainStartError turns go-plugin's start errors into advice.
func explainStartError(spec Spec, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "incompatible API version"):
		ours := make([]int, 0, len(spec.Versions))
		for v := range spec.Versions {
			ours = append(ours, v)
		}
		sort.Ints(ours)
		return fmt.Errorf("%s %s: skiff speaks skiff.%s API versions %v but the plugin does not (%v): upgrade the plugin to one built against a matching sdk/%s, or skiff to one that speaks the plugin's version",
			spec.prefix(), spec.Path, spec.Kind, ours, err, spec.Kind)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("%s %s: start: the plugin wrote to stdout before its handshake (plugins must not print to stdout before calling Serve; log to stderr instead): %w",
			spec.prefix(), spec.Path, err)
	}
	return fmt.Errorf("%s %s: start: %w", spec.prefix(), spec.Path, err)
}

func configure(ctx context.Context, impl any, spec Spec, nodeName string) (base.Info, error) {
	p, ok := impl.(base.Plugin)
	if !ok {
		return base.Info{}, fmt.Errorf("%s %s: does not implement the base plugin contract", spec.prefix(), spec.Path)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info, err := p.Info(cctx)
	if err != nil {
		return base.Info{}, fmt.Errorf("%s %s: info: %w", spec.prefix(), spec.Path, err)
	}
	if info.Kind != spec.Kind {
		return base.Info{}, fmt.Errorf("%s: %s is a %s plugin, configured as %s", spec.prefix(), spec.Path, info.Kind, spec.Kind)
	}
	settings, err := base.ValidateSettings(info.Settings, mergeSettings(info.Settings, spec.Offered, spec.Settings))
	if err != nil {
		return base.Info{}, fmt.Errorf("%s %s (%s): %w", spec.prefix(), info.Name, spec.Path, err)
	}
	if err := os.MkdirAll(spec.DataDir, 0o755); err != nil {
		return base.Info{}, fmt.Errorf("%s data dir: %w", spec.prefix(), err)
	}
	if err := p.Configure(cctx, base.Config{NodeName: nodeName, DataDir: spec.DataDir, Settings: settings}); err != nil {
		return base.Info{}, fmt.Errorf("%s %s: configure: %w", spec.prefix(), info.Name, err)
	}
	return info, nil
}

// mergeSettings is the offered settings the plugin declares, overridden by
// the explicit ones.
func mergeSettings(specs []base.SettingSpec, offered, explicit map[string]string) map[string]string {
	out := make(map[string]string, len(offered)+len(explicit))
	for _, s := range specs {
		if v, ok := offered[s.Name]; ok {
			out[s.Name] = v
		}
	}
	for k, v := range explicit {
		out[k] = v
	}
	return out
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
	if sp.proc == nil {
		return nil, fmt.Errorf("%s plugin is restarting (%s): %w", kind, sp.message, base.ErrUnavailable)
	}
	return sp.proc.impl, nil
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
		out = append(out, sp.status())
	}
	return out
}

// status needs h.mu.
func (sp *supervised) status() Status {
	st := Status{
		Kind: sp.spec.Kind, Name: sp.info.Name, Version: sp.info.Version, APIVersion: sp.info.APIVersion,
		Path: sp.spec.Path, Restarts: sp.restarts, CrashLoop: sp.crashLoop,
		Healthy: sp.proc != nil && !sp.crashLoop, Since: sp.since, Message: sp.message,
	}
	if sp.proc != nil {
		st.PID = sp.proc.pid
	}
	return st
}

// Stop kills every plugin, reaps the processes and waits for the
// supervisors to end.
func (h *Host) Stop() {
	if h.stop != nil {
		h.stop()
	}
	h.wg.Wait()
	h.mu.Lock()
	sps := make([]*supervised, 0, len(h.plugins))
	for _, sp := range h.plugins {
		sps = append(sps, sp)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, sp := range sps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp.op.Lock()
			defer sp.op.Unlock()
			h.mu.Lock()
			p := sp.proc
			sp.proc = nil
			h.mu.Unlock()
			if p != nil {
				h.stopProc(p)
			}
			h.mu.Lock()
			if sp.logFile != nil {
				sp.logFile.Close()
				sp.logFile = nil
			}
			h.mu.Unlock()
		}()
	}
	wg.Wait()
}

// stopProc asks the process to exit (go-plugin's shutdown), and kills it
// when it has not within StopTimeout (a frozen process never answers).
// It returns once the process is reaped.
func (h *Host) stopProc(p *proc) {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(h.Timing.withDefaults().StopTimeout):
		h.kill(p)
		<-done
	}
}

// kill ends the process at once with SIGKILL and reaps it.
func (h *Host) kill(p *proc) {
	if pid := pidOf(p.client); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	} else if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
	}
	p.client.Kill()
}

// supervise checks one plugin and restarts it when it died.
func (h *Host) supervise(ctx context.Context, sp *supervised) {
	t := h.Timing
	var backoff time.Duration
	var next time.Time
	tick := time.NewTicker(t.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sp.op.Lock()
		if h.check(ctx, sp) || time.Now().Before(next) || ctx.Err() != nil {
			sp.op.Unlock()
			continue
		}
		backoff = h.nextBackoff(backoff, sp)
		next = time.Now().Add(backoff)
		h.restart(ctx, sp)
		sp.op.Unlock()
	}
}

func (h *Host) nextBackoff(prev time.Duration, sp *supervised) time.Duration {
	t := h.Timing
	h.mu.Lock()
	since := sp.since
	h.mu.Unlock()
	if prev == 0 || time.Since(since) > t.HealthyToReset {
		return t.MinBackoff
	}
	return min(prev*2, t.MaxBackoff)
}

// check reports whether the plugin's process runs and answers. A process
// that exited is reaped; one that failed PingFailures health checks in a
// row is killed. Either way the plugin is then down. It needs sp.op.
func (h *Host) check(ctx context.Context, sp *supervised) bool {
	h.mu.Lock()
	p := sp.proc
	h.mu.Unlock()
	if p == nil {
		return false
	}
	if p.client.Exited() {
		h.down(sp, "plugin process exited ("+exitStatus(p)+")")
		p.client.Kill() // cleans up go-plugin's side
		return false
	}
	if err := ping(ctx, p, h.Timing.PingTimeout); err != nil {
		if ctx.Err() != nil {
			return true
		}
		h.mu.Lock()
		sp.pingFails++
		fails := sp.pingFails
		h.mu.Unlock()
		if p.client.Exited() {
			return h.check(ctx, sp)
		}
		if fails < h.Timing.PingFailures {
			return true
		}
		h.down(sp, fmt.Sprintf("plugin process (pid %d) did not answer %d health checks in a row (%v): killed it", p.pid, fails, err))
		h.kill(p)
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	sp.pingFails = 0
	if sp.crashLoop && time.Since(p.started) > h.Timing.HealthyToReset {
		sp.crashLoop, sp.message, sp.since = false, "", time.Now()
		sp.restartTimes = nil
	}
	return true
}

// ping is go-plugin's health check, bounded: go-plugin's own Ping waits
// forever on a frozen process.
func ping(ctx context.Context, p *proc, timeout time.Duration) error {
	rpc, err := p.client.Client()
	if err != nil {
		return err
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		return rpc.Ping()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(gc.Conn).Check(cctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

func exitStatus(p *proc) string {
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.String()
	}
	return "exit status unknown"
}

// down marks the plugin down after its process ended.
func (h *Host) down(sp *supervised, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sp.proc = nil
	sp.lastExit = why
	if !sp.crashLoop {
		sp.since, sp.message = time.Now(), why
	}
}

// restart launches a new process for a plugin that is down and runs the
// OnRestart hooks. It needs sp.op.
func (h *Host) restart(ctx context.Context, sp *supervised) {
	now := time.Now()
	h.mu.Lock()
	sp.restarts++
	recent := sp.restartTimes[:0]
	for _, at := range sp.restartTimes {
		if now.Sub(at) < h.Timing.CrashLoopWindow {
			recent = append(recent, at)
		}
	}
	sp.restartTimes = append(recent, now)
	if len(sp.restartTimes) >= h.Timing.CrashLoopRestarts {
		sp.crashLoop = true
		sp.message = fmt.Sprintf("crash loop: %d restarts within %v, restarting with back-off; last: %s",
			len(sp.restartTimes), h.Timing.CrashLoopWindow, sp.lastExit)
	}
	h.mu.Unlock()

	p, err := h.launch(ctx, sp)
	if err != nil {
		h.mu.Lock()
		sp.lastExit = err.Error()
		if !sp.crashLoop {
			sp.message = err.Error()
		}
		h.mu.Unlock()
		h.logger.Warn("plugin restart failed", "kind", sp.spec.Kind, "error", err)
		return
	}
	h.install(sp, p)
	h.runHooks(ctx, sp.spec.Kind)
}

func (h *Host) runHooks(ctx context.Context, kind base.Kind) {
	h.mu.Lock()
	hooks := append([]func(context.Context){}, h.hooks[kind]...)
	h.mu.Unlock()
	for _, fn := range hooks {
		fn(ctx)
	}
}

// Reload replaces the plugin of kind with a new process of its binary (to
// pick up a new build): the new process is started and configured, the
// OnRestart hooks run against it, and then the old process is stopped.
// When the new process cannot start, the old one keeps serving and the
// error says why. A reload also clears a crash loop. It returns the
// plugin's status after the reload and the old process's PID (0 if the
// plugin was down).
func (h *Host) Reload(ctx context.Context, kind base.Kind) (Status, int, error) {
	h.mu.Lock()
	sp, ok := h.plugins[kind]
	h.mu.Unlock()
	if !ok {
		return Status{}, 0, fmt.Errorf("no %s plugin is configured here: %w", kind, base.ErrNotFound)
	}
	sp.op.Lock()
	defer sp.op.Unlock()
	p, err := h.launch(ctx, sp)
	if err != nil {
		return Status{}, 0, fmt.Errorf("reload: %w", err)
	}
	h.mu.Lock()
	old := sp.proc
	sp.crashLoop, sp.restartTimes, sp.message = false, nil, ""
	h.mu.Unlock()
	h.install(sp, p)
	h.runHooks(ctx, kind)
	oldPID := 0
	if old != nil {
		oldPID = old.pid
		h.stopProc(old)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return sp.status(), oldPID, nil
}

// unaryInterceptor makes a call that the plugin's death cut short say so.
func (p *proc) unaryInterceptor(kind base.Kind) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return p.explain(kind, invoker(ctx, method, req, reply, cc, opts...))
	}
}

func (p *proc) streamInterceptor(kind base.Kind) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		return s, p.explain(kind, err)
	}
}

// explain rewrites a transport failure (Unavailable without the SDK's error
// details) into a message naming the plugin; FromStatus still maps it to
// base.ErrUnavailable.
func (p *proc) explain(kind base.Kind, err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != codes.Unavailable || len(st.Details()) > 0 {
		return err
	}
	return status.Errorf(codes.Unavailable, "%s plugin (pid %d) went away during the call, it is being restarted: %s", kind, p.pid, st.Message())
}

// LogPath is the file the plugin of kind logs to.
func (h *Host) LogPath(kind base.Kind) string {
	return filepath.Join(h.logDir, string(kind)+".log")
}

// Kinds lists the kinds this host runs.
func (h *Host) Kinds() []base.Kind {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []base.Kind
	for _, k := range base.Kinds {
		if _, ok := h.plugins[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// ErrUnavailable is base.ErrUnavailable, re-exported for callers that only
// import the host.
var ErrUnavailable = base.ErrUnavailable

// IsUnavailable reports whether err means the plugin is down.
func IsUnavailable(err error) bool { return errors.Is(err, base.ErrUnavailable) }
