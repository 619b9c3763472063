package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/store"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	e, err := embedetcd.Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return store.New(e.Client)
}

func TestCreateIsIfAbsentAndDeleteIsConditional(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	key := store.Key("pods", "default", "a")
	rev, err := s.Create(ctx, key, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, key, []byte(`{"x":1}`)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("second create: %v", err)
	}
	newRev, err := s.Update(ctx, key, rev, []byte(`{"y":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, key, rev); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete at a stale revision: %v", err)
	}
	if _, err := s.Delete(ctx, key, newRev); err != nil {
		t.Errorf("delete at the current revision: %v", err)
	}
	if _, err := s.Update(ctx, key, newRev, []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a deleted key: %v", err)
	}
}

func TestWriteWithTTLExpires(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	short := store.Key("events", "default", "short")
	kept := store.Key("events", "default", "kept")
	if _, err := s.Create(ctx, short, []byte(`{}`), store.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, kept, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get(ctx, short)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key with a 1s TTL still there after 10s (%v)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.Get(ctx, kept); err != nil {
		t.Errorf("key without TTL: %v", err)
	}
}

// An update with the same TTL renews the key's etcd lease instead of
// granting another; a different TTL gets a new lease; either way the key
// lives TTL after its last write.
func TestUpdateWithTTLRenewsTheKeysLease(t *testing.T) {
	e, err := embedetcd.Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	s := store.New(e.Client)
	ctx := context.Background()
	key := store.Key("leases", "kube-node-lease", "n1")
	leaseOf := func() int64 {
		t.Helper()
		resp, err := e.Client.Get(ctx, key)
		if err != nil || len(resp.Kvs) == 0 {
			t.Fatalf("get %s: %v %v", key, err, resp)
		}
		return resp.Kvs[0].Lease
	}
	const ttl = 3 * time.Second
	rev, err := s.Create(ctx, key, []byte(`{}`), store.WithTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	first := leaseOf()
	if first == 0 {
		t.Fatal("created without a lease")
	}
	// Renew past the TTL: the key stays, on the same lease.
	for i := 0; i < 4; i++ {
		time.Sleep(ttl / 2)
		if rev, err = s.Update(ctx, key, rev, []byte(`{}`), store.WithTTL(ttl)); err != nil {
			t.Fatalf("renewal %d: %v", i, err)
		}
		if got := leaseOf(); got != first {
			t.Fatalf("renewal %d moved the key to lease %x, want %x", i, got, first)
		}
	}
	// Another TTL: a new lease.
	if rev, err = s.Update(ctx, key, rev, []byte(`{}`), store.WithTTL(2*ttl)); err != nil {
		t.Fatal(err)
	}
	if got := leaseOf(); got == first || got == 0 {
		t.Errorf("a different TTL kept lease %x", got)
	}
	// No more renewals: gone within the TTL.
	deadline := time.Now().Add(2*ttl + 3*time.Second)
	for {
		if _, err := s.Get(ctx, key); errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there long after its TTL", key)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.Update(ctx, key, rev, []byte(`{}`), store.WithTTL(ttl)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update after expiry: %v, want not found", err)
	}
}
