package leaderelection

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

const ns, name = "kube-system", "skiff-controller-manager"

// candidate runs an Elector whose Lead counts the terms it leads and
// blocks until told to stop; stop ends Run and waits for it.
type candidate struct {
	e       *Elector
	terms   atomic.Int32
	running atomic.Bool
	stop    func()
}

func startCandidate(t *testing.T, c *client.Client, id string) *candidate {
	t.Helper()
	cd := &candidate{}
	e, err := New(Config{
		Client: c, Namespace: ns, Name: name, Identity: id,
		// A renew deadline of seconds: one slow etcd write on a loaded
		// machine must not make a leader step down.
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 100 * time.Millisecond,
		Lead: func(ctx context.Context) {
			cd.terms.Add(1)
			cd.running.Store(true)
			<-ctx.Done()
			cd.running.Store(false)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cd.e = e
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	cd.stop = func() { cancel(); <-done }
	t.Cleanup(cd.stop)
	return cd
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func holder(t *testing.T, c *client.Client) (string, int32) {
	t.Helper()
	var l coordinationv1.Lease
	if err := c.Get(context.Background(), api.Leases, ns, name, &l); err != nil {
		t.Fatal(err)
	}
	var transitions int32
	if l.Spec.LeaseTransitions != nil {
		transitions = *l.Spec.LeaseTransitions
	}
	if l.Spec.HolderIdentity == nil {
		return "", transitions
	}
	return *l.Spec.HolderIdentity, transitions
}

// Two candidates: exactly one leads; when it stops cleanly it releases the
// Lease and the other takes over at its next try, long before the lease
// would have expired.
func TestOneLeaderAndHandOverOnStop(t *testing.T) {
	srv := testapi.Start(t)
	a := startCandidate(t, srv.Admin, "server-a")
	waitUntil(t, "a leads", a.running.Load)
	b := startCandidate(t, srv.Admin, "server-b")
	time.Sleep(500 * time.Millisecond) // several of b's tries
	if b.running.Load() || b.e.IsLeader() {
		t.Fatal("b leads while a holds the lease")
	}
	if h, _ := holder(t, srv.Admin); h != "server-a" {
		t.Fatalf("holder %q, want server-a", h)
	}
	stopped := time.Now()
	a.stop()
	if a.running.Load() {
		t.Fatal("a's Lead still runs after Run returned")
	}
	waitUntil(t, "b leads", b.running.Load)
	if took := time.Since(stopped); took >= 4*time.Second {
		t.Errorf("b took over %v after a released the lease, want less than the lease duration", took)
	}
	if h, transitions := holder(t, srv.Admin); h != "server-b" || transitions != 0 {
		// A released lease has no holder: taking it is not a transition
		// from another holder (client-go counts the same way).
		t.Errorf("holder %q, transitions %d; want server-b, 0", h, transitions)
	}
}

// A leader that died without releasing (a crash) is replaced only once the
// lease has gone unrenewed for its duration, as seen by the candidate; a
// candidate with the dead leader's identity (the same server restarted)
// takes it back at once.
func TestTakeOverFromACrashedLeader(t *testing.T) {
	srv := testapi.Start(t)
	ghost := "server-dead"
	secs := int32(4)
	now := metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &ghost, LeaseDurationSeconds: &secs, RenewTime: &now, AcquireTime: &now},
	}
	if err := srv.Admin.Create(context.Background(), api.Leases, ns, l); err != nil {
		t.Fatal(err)
	}

	restarted := startCandidate(t, srv.Admin, ghost)
	waitUntil(t, "the restarted holder leads", restarted.running.Load)
	restarted.stop()

	// Held again by the dead server (the restarted one "crashed" after
	// renewing): a new candidate must wait out the lease.
	l = &coordinationv1.Lease{} // decoding into l would write through its pointers
	if err := srv.Admin.Get(context.Background(), api.Leases, ns, name, l); err != nil {
		t.Fatal(err)
	}
	dead, four := "server-dead", int32(4)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &dead, &four // as before the release
	if err := srv.Admin.Update(context.Background(), api.Leases, ns, l, ""); err != nil {
		t.Fatal(err)
	}
	seen := time.Now()
	c := startCandidate(t, srv.Admin, "server-c")
	time.Sleep(2 * time.Second)
	if c.running.Load() {
		t.Fatal("server-c leads while the crashed leader's lease is still valid")
	}
	waitUntil(t, "server-c leads after the lease expired", c.running.Load)
	if waited := time.Since(seen); waited < 4*time.Second {
		t.Errorf("server-c took over %v after it first saw the lease, before its 4s duration", waited)
	}
	if h, transitions := holder(t, srv.Admin); h != "server-c" || transitions != 1 {
		t.Errorf("holder %q, transitions %d; want server-c, 1", h, transitions)
	}
}

// A leader whose Lease is taken by someone else stops leading (its Lead's
// context ends) at its next renewal, and competes again.
func TestLeaderStopsWhenTheLeaseIsTaken(t *testing.T) {
	srv := testapi.Start(t)
	a := startCandidate(t, srv.Admin, "server-a")
	waitUntil(t, "a leads", a.running.Load)
	var l coordinationv1.Lease
	for {
		if err := srv.Admin.Get(context.Background(), api.Leases, ns, name, &l); err != nil {
			t.Fatal(err)
		}
		other := "server-z"
		l.Spec.HolderIdentity = &other
		if err := srv.Admin.Update(context.Background(), api.Leases, ns, &l, ""); err == nil {
			break
		}
	}
	waitUntil(t, "a stops leading", func() bool { return !a.running.Load() && !a.e.IsLeader() })
	// server-z never renews: a leads again once the lease expired.
	waitUntil(t, "a leads again", a.running.Load)
	if n := a.terms.Load(); n < 2 {
		t.Errorf("a led %d terms, want at least 2", n)
	}
	if h, _ := holder(t, srv.Admin); h != "server-a" {
		t.Errorf("holder %q, want server-a", h)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Identity: "x", LeaseDuration: 10 * time.Second, RenewDeadline: 10 * time.Second}, "--leader-elect-lease-duration 10s must be greater than --leader-elect-renew-deadline 10s"},
		{Config{Identity: "x", RenewDeadline: time.Second, RetryPeriod: 2 * time.Second}, "--leader-elect-renew-deadline 1s must be greater than --leader-elect-retry-period 2s"},
		{Config{Identity: "x", LeaseDuration: 1500 * time.Millisecond, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond}, "must be whole seconds"},
		{Config{}, "empty identity"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (&Config{Identity: "x"}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
