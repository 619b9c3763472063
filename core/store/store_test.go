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
