// Package prober is skiff's probes plugin. It runs startup, readiness and
// liveness probes the way the kubelet does, and reports each change of a
// probe's state.
//
// Every probe of a container runs in its own goroutine: it waits for the
// startup probe to succeed (if the container has one; the startup probe
// then stops), then for the probe's initial delay counted from the
// container's StartedAt, then runs every Period with Timeout. A state only
// changes after SuccessThreshold successes or FailureThreshold failures in
// a row. States start as the kubelet's do: readiness and startup failed,
// liveness succeeded. The first run of a probe always reports its state,
// even when the thresholds leave it unchanged; after that only changes are
// reported.
//
// tcpSocket succeeds when a connection opens. httpGet succeeds on a status
// in 200-399 and does not follow redirects (a redirect is a success);
// HTTPS skips certificate checks, as the kubelet does. grpc calls
// grpc.health.v1.Health/Check on the pod IP. exec runs through the Host
// the core provides; an error from the Host (as opposed to a non-zero exit)
// leaves the state unchanged, as a kubelet prober error does.
//
// A new Results subscriber first receives the current state of every probe
// that has reported, then the changes. Results are queued per subscriber,
// never dropped.
package prober

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// Prober is the probes plugin. Its zero value is not usable; call New.
type Prober struct {
	checker *checker

	mu         sync.Mutex
	host       probes.Host
	containers map[string]*entry
	latest     map[resultKey]probes.Result
	subs       map[*subscriber]struct{}
}

var (
	_ probes.Prober     = (*Prober)(nil)
	_ probes.HostSetter = (*Prober)(nil)
)

// entry is one AddContainer: its probes stop when cancel is called, and
// their results are dropped once the entry is no longer the container's.
type entry struct {
	cancel context.CancelFunc
}

type resultKey struct {
	containerID string
	kind        probes.Kind
}

// New returns a prober with no containers.
func New() *Prober {
	return &Prober{
		checker:    newChecker(),
		containers: make(map[string]*entry),
		latest:     make(map[resultKey]probes.Result),
		subs:       make(map[*subscriber]struct{}),
	}
}

// Info implements base.Plugin.
func (p *Prober) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindProbes, Name: "probes", Version: Version, APIVersion: probes.APIVersion}, nil
}

// Configure implements base.Plugin. The plugin has no settings.
func (p *Prober) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(nil, cfg.Settings); err != nil {
		return fmt.Errorf("probes: %w: %w", err, base.ErrInvalid)
	}
	return nil
}

// SetHost implements probes.HostSetter.
func (p *Prober) SetHost(h probes.Host) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.host = h
}

// AddContainer implements probes.Prober: it checks every probe, then
// replaces whatever ran for the container.
func (p *Prober) AddContainer(_ context.Context, c probes.Container) error {
	specs, err := specsOf(c)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if needsHost(specs) && p.host == nil {
		return fmt.Errorf("container %q: exec probes need the core's host, which this plugin was not given: %w",
			c.ContainerID, base.ErrUnsupported)
	}
	p.removeLocked(c.ContainerID)
	ctx, cancel := context.WithCancel(context.Background())
	e := &entry{cancel: cancel}
	p.containers[c.ContainerID] = e
	started := newGate(c.Startup == nil)
	for _, s := range specs {
		w := newWorker(p, e, c, s, started)
		go w.run(ctx)
	}
	return nil
}

// RemoveContainer implements probes.Prober. Once it returns, no result of
// the container is published.
func (p *Prober) RemoveContainer(_ context.Context, containerID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(containerID)
	return nil
}

func (p *Prober) removeLocked(containerID string) {
	e, ok := p.containers[containerID]
	if !ok {
		return
	}
	e.cancel()
	delete(p.containers, containerID)
	for _, k := range kinds {
		delete(p.latest, resultKey{containerID, k})
	}
}

// Results implements probes.Prober.
func (p *Prober) Results(ctx context.Context) (<-chan probes.Result, error) {
	sub := newSubscriber()
	p.mu.Lock()
	p.subs[sub] = struct{}{}
	for _, r := range p.snapshotLocked() {
		sub.push(r)
	}
	p.mu.Unlock()

	out := make(chan probes.Result)
	go func() {
		defer close(out)
		sub.pump(ctx, out)
		p.mu.Lock()
		delete(p.subs, sub)
		p.mu.Unlock()
	}()
	return out, nil
}

// snapshotLocked is the current state of every probe, ordered by container
// and kind.
func (p *Prober) snapshotLocked() []probes.Result {
	out := make([]probes.Result, 0, len(p.latest))
	for _, r := range p.latest {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerID != out[j].ContainerID {
			return out[i].ContainerID < out[j].ContainerID
		}
		return kindOrder(out[i].Probe) < kindOrder(out[j].Probe)
	})
	return out
}

// publish records and sends r, unless e is no longer the container's
// current entry (it was removed or replaced); it reports whether it did.
func (p *Prober) publish(e *entry, r probes.Result) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.containers[r.ContainerID] != e {
		return false
	}
	p.latest[resultKey{r.ContainerID, r.Probe}] = r
	for sub := range p.subs {
		sub.push(r)
	}
	return true
}

func (p *Prober) currentHost() probes.Host {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.host
}

var kinds = []probes.Kind{probes.Startup, probes.Readiness, probes.Liveness}

func kindOrder(k probes.Kind) int {
	for i, kk := range kinds {
		if kk == k {
			return i
		}
	}
	return len(kinds)
}

// gate opens once; workers of readiness and liveness wait on it for the
// startup probe to succeed.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate(open bool) *gate {
	g := &gate{ch: make(chan struct{})}
	if open {
		g.open()
	}
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// wait reports whether the gate opened before ctx ended.
func (g *gate) wait(ctx context.Context) bool {
	select {
	case <-g.ch:
		return true
	case <-ctx.Done():
		return false
	}
}
