// Package leaderelection elects one of several skiffd servers to run the
// controllers and the scheduler, as kube-controller-manager and
// kube-scheduler do with client-go's leaderelection: the candidates
// compete for one coordination.k8s.io/v1 Lease through the API, each write
// a compare-and-swap on the Lease's resourceVersion.
//
// The rules are client-go's. A candidate takes the Lease when it does not
// exist, when it names no holder, or when the candidate has seen it
// unchanged for longer than its leaseDurationSeconds, measured on the
// candidate's own clock from when it last saw it change (never comparing
// renewTime with its clock, so skew between machines does not matter). The
// leader renews every RetryPeriod; if it has not renewed for RenewDeadline
// it stops leading (its controllers are cancelled) before anyone else may
// take over, since RenewDeadline < LeaseDuration. A leader that stops
// cleanly releases the Lease (no holder), so a follower takes over at its
// next try instead of waiting out the lease.
//
// Unlike kube-controller-manager's random identity, a skiffd server's
// identity is stable across restarts (node name and listen address), so a
// restarted leader takes its Lease back at once instead of waiting for it
// to expire. Two live servers must therefore never share an identity.
package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// Defaults, kube-controller-manager's.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// Config says what to compete for and how.
type Config struct {
	Client *client.Client
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity names this candidate in the Lease's holderIdentity.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's; zero
	// means the default. LeaseDuration > RenewDeadline > RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Lead runs while this candidate leads, with a context that ends when
	// it stops leading; it must return soon after. Run does not try to
	// lead again before Lead has returned.
	Lead func(ctx context.Context)
	Log  *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Validate checks the timings, naming the kube-controller-manager flag.
func (c *Config) Validate() error {
	c.defaults()
	switch {
	case c.Identity == "":
		return errors.New("leader election: empty identity")
	case c.RetryPeriod <= 0:
		return fmt.Errorf("--leader-elect-retry-period %v: must be positive", c.RetryPeriod)
	case c.RenewDeadline <= c.RetryPeriod:
		return fmt.Errorf("--leader-elect-renew-deadline %v must be greater than --leader-elect-retry-period %v", c.RenewDeadline, c.RetryPeriod)
	case c.LeaseDuration <= c.RenewDeadline:
		return fmt.Errorf("--leader-elect-lease-duration %v must be greater than --leader-elect-renew-deadline %v", c.LeaseDuration, c.RenewDeadline)
	case c.LeaseDuration%time.Second != 0:
		return fmt.Errorf("--leader-elect-lease-duration %v: must be whole seconds (the Lease's leaseDurationSeconds)", c.LeaseDuration)
	}
	return nil
}

func (c *Config) defaults() {
	if c.LeaseDuration == 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.RenewDeadline == 0 {
		c.RenewDeadline = DefaultRenewDeadline
	}
	if c.RetryPeriod == 0 {
		c.RetryPeriod = DefaultRetryPeriod
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Elector is one candidate.
type Elector struct {
	cfg Config

	mu sync.Mutex
	// observed is the Lease as last read or written, and observedAt when
	// this candidate saw its spec change (its own clock).
	observed   *coordinationv1.Lease
	observedAt time.Time
	leading    bool
}

// New checks cfg and returns a candidate.
func New(cfg Config) (*Elector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil || cfg.Lead == nil || cfg.Name == "" || cfg.Namespace == "" {
		return nil, errors.New("leader election: Client, Lead, Namespace and Name are required")
	}
	return &Elector{cfg: cfg}, nil
}

// IsLeader reports whether this candidate leads now.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Run competes until ctx ends: it waits to acquire the Lease, runs Lead
// while it keeps it, and competes again after losing it. When ctx ends
// while leading, it stops Lead, waits for it and releases the Lease. If
// Lead returns on its own, Run releases the Lease and returns.
func (e *Elector) Run(ctx context.Context) {
	for ctx.Err() == nil {
		if !e.acquire(ctx) {
			return
		}
		if !e.lead(ctx) {
			return
		}
	}
}

// acquire tries every RetryPeriod until it holds the Lease; false when
// ctx ended first.
func (e *Elector) acquire(ctx context.Context) bool {
	t := time.NewTicker(e.cfg.RetryPeriod)
	defer t.Stop()
	for {
		ok, err := e.tryAcquireOrRenew(ctx)
		if err != nil && ctx.Err() == nil {
			e.cfg.Log.Debug("leader election: acquire", "lease", e.leaseName(), "error", err)
		}
		if ok {
			e.cfg.Log.Info("leader election: became leader", "lease", e.leaseName(), "identity", e.cfg.Identity)
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// lead runs Lead and renews the Lease until a renewal has failed for
// RenewDeadline, another candidate has taken the Lease, or ctx ends; then
// it stops Lead and waits for it. It reports whether to compete again.
func (e *Elector) lead(ctx context.Context) bool {
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	e.setLeading(true)
	go func() {
		defer close(done)
		e.cfg.Lead(lctx)
	}()
	lastRenew := e.cfg.Now()
	t := time.NewTicker(e.cfg.RetryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stop()
			<-done
			e.setLeading(false)
			e.release()
			return false
		case <-done: // Lead returned by itself: let the others lead
			stop()
			e.setLeading(false)
			e.release()
			return false
		case <-t.C:
		}
		// Every try is bounded by the deadline counted from the last
		// successful renewal (client-go's), so a hung write cannot keep
		// this candidate leading past it, and so past the lease.
		deadline := lastRenew.Add(e.cfg.RenewDeadline)
		var ok bool
		err := errRenewDeadline
		if e.cfg.Now().Before(deadline) {
			rctx, cancel := context.WithDeadline(ctx, deadline)
			ok, err = e.tryAcquireOrRenew(rctx)
			cancel()
		}
		if ok {
			lastRenew = e.cfg.Now()
			continue
		}
		if e.cfg.Now().Before(deadline) && !errors.Is(err, errHeldByOther) {
			continue // a failed write: try again within the deadline
		}
		e.cfg.Log.Warn("leader election: lost the lease, stopping the controllers", "lease", e.leaseName(), "identity", e.cfg.Identity, "error", err)
		stop()
		<-done
		e.setLeading(false)
		return true
	}
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
}

func (e *Elector) leaseName() string { return e.cfg.Namespace + "/" + e.cfg.Name }

var (
	errHeldByOther   = errors.New("the lease is held by another candidate")
	errRenewDeadline = errors.New("no successful renewal within the renew deadline")
)

// tryAcquireOrRenew is client-go's: take or renew the Lease when this
// candidate holds it, it has no holder, or it has expired as this
// candidate observed it.
func (e *Elector) tryAcquireOrRenew(ctx context.Context) (bool, error) {
	now := metav1.NewMicroTime(e.cfg.Now())
	secs := int32(e.cfg.LeaseDuration / time.Second)
	id := e.cfg.Identity // its own copy: the client decodes answers into l's pointers
	var l coordinationv1.Lease
	err := e.cfg.Client.Get(ctx, api.Leases, e.cfg.Namespace, e.cfg.Name, &l)
	if apierrors.IsNotFound(err) {
		l = coordinationv1.Lease{
			TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			ObjectMeta: metav1.ObjectMeta{Name: e.cfg.Name, Namespace: e.cfg.Namespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &id, LeaseDurationSeconds: &secs,
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: new(int32),
			},
		}
		if err := e.cfg.Client.Create(ctx, api.Leases, e.cfg.Namespace, &l); err != nil {
			return false, fmt.Errorf("create lease %s: %w", e.leaseName(), err)
		}
		e.observe(&l)
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("get lease %s: %w", e.leaseName(), err)
	}
	e.observe(&l)
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if holder != "" && holder != e.cfg.Identity && !e.expired(&l) {
		return false, errHeldByOther
	}
	if holder != e.cfg.Identity {
		transitions := int32(0)
		if l.Spec.LeaseTransitions != nil {
			transitions = *l.Spec.LeaseTransitions
		}
		if holder != "" {
			transitions++
		}
		l.Spec.LeaseTransitions = &transitions
		l.Spec.AcquireTime = &now
		l.Spec.HolderIdentity = &id
	}
	l.Spec.RenewTime = &now
	l.Spec.LeaseDurationSeconds = &secs
	if err := e.cfg.Client.Update(ctx, api.Leases, e.cfg.Namespace, &l, ""); err != nil {
		return false, fmt.Errorf("update lease %s: %w", e.leaseName(), err)
	}
	e.observe(&l)
	return true, nil
}

// observe records l, and the time when it changed (any write, renewals
// included, makes a new resourceVersion) as seen here.
func (e *Elector) observe(l *coordinationv1.Lease) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.observed == nil || e.observed.ResourceVersion != l.ResourceVersion {
		e.observedAt = e.cfg.Now()
	}
	e.observed = l.DeepCopy()
}

// expired: this candidate has seen l unchanged for its whole duration.
func (e *Elector) expired(l *coordinationv1.Lease) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.cfg.LeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return !e.observedAt.Add(d).After(e.cfg.Now())
}

// release gives the Lease up (no holder, client-go's ReleaseOnCancel), so
// that another candidate takes over at once; best effort.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RetryPeriod)
	defer cancel()
	var l coordinationv1.Lease
	if err := e.cfg.Client.Get(ctx, api.Leases, e.cfg.Namespace, e.cfg.Name, &l); err != nil {
		return
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != e.cfg.Identity {
		return
	}
	empty := ""
	one := int32(1)
	now := metav1.NewMicroTime(e.cfg.Now())
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &empty, &one, &now
	if err := e.cfg.Client.Update(ctx, api.Leases, e.cfg.Namespace, &l, ""); err != nil {
		e.cfg.Log.Debug("leader election: release", "lease", e.leaseName(), "error", err)
		return
	}
	e.cfg.Log.Info("leader election: released the lease", "lease", e.leaseName(), "identity", e.cfg.Identity)
}
