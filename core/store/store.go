// Package store keeps API objects in etcd.
//
// Every object lives at /skiff/registry/<resource>/<namespace>/<name>
// (cluster-scoped objects have no namespace segment) as JSON. An object's
// metadata.resourceVersion is the etcd mod revision of its key: updates are
// compare-and-swap on it, creates are Txn(If(CreateRevision == 0)), and
// watches resume from a revision. No etcd locks.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Prefix is the root of every key the store owns.
const Prefix = "/skiff/registry/"

// Errors the store returns, wrapped with the key.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrConflict      = errors.New("the object has been modified")
)

// KV is one stored object with its revision.
type KV struct {
	Key      string
	Value    []byte
	Revision int64
}

// Store is an etcd-backed object store.
type Store struct {
	c *clientv3.Client
}

// New wraps an etcd client.
func New(c *clientv3.Client) *Store { return &Store{c: c} }

// Key builds an object's key.
func Key(resource, namespace, name string) string {
	if namespace == "" {
		return Prefix + resource + "/" + name
	}
	return Prefix + resource + "/" + namespace + "/" + name
}

// ListPrefix is the key prefix of a resource, or of one namespace of it.
func ListPrefix(resource, namespace string) string {
	if namespace == "" {
		return Prefix + resource + "/"
	}
	return Prefix + resource + "/" + namespace + "/"
}

// WriteOption tunes a Create or Update.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ttl time.Duration
}

// WithTTL makes the key expire ttl after this write (an etcd lease). Each
// write with a TTL starts the clock again; Kubernetes keeps events this way.
// An Update keeps the key's lease when it was granted with the same TTL
// and renews it (a keep-alive, which etcd does not replicate), instead of
// granting a new one (a replicated write, and one more to revoke later).
func WithTTL(ttl time.Duration) WriteOption {
	return func(o *writeOptions) { o.ttl = ttl }
}

// putOp builds the put, granting a lease when a TTL is asked for.
func (s *Store) putOp(ctx context.Context, key string, value []byte, opts []WriteOption) (clientv3.Op, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl <= 0 {
		return clientv3.OpPut(key, string(value)), nil
	}
	lease, err := s.c.Grant(ctx, ttlSeconds(o.ttl))
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("lease for %s: %w", key, err)
	}
	return clientv3.OpPut(key, string(value), clientv3.WithLease(lease.ID)), nil
}

// ttlSeconds is an etcd lease TTL: whole seconds, rounded up.
func ttlSeconds(ttl time.Duration) int64 { return int64(math.Ceil(ttl.Seconds())) }

// Create stores value at key only if the key does not exist.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts ...WriteOption) (int64, error) {
	put, err := s.putOp(ctx, key, value, opts)
	if err != nil {
		return 0, err
	}
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(put).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("create %s: %w", key, ErrAlreadyExists)
	}
	return resp.Header.Revision, nil
}

// Get reads one key.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	resp, err := s.c.Get(ctx, key)
	if err != nil {
		return KV{}, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision}, nil
}

// List reads every key under prefix and returns the revision of the read.
func (s *Store) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	resp, err := s.c.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, KV{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision})
	}
	return out, resp.Header.Revision, nil
}

// Update replaces key's value if its mod revision is still revision.
func (s *Store) Update(ctx context.Context, key string, revision int64, value []byte, opts ...WriteOption) (int64, error) {
	put, renew, err := s.updatePutOp(ctx, key, value, opts)
	if err != nil {
		return 0, err
	}
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", revision)).
		Then(put).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, fmt.Errorf("update %s: %w", key, ErrNotFound)
		}
		return 0, fmt.Errorf("update %s at revision %d: %w", key, revision, ErrConflict)
	}
	if renew != clientv3.NoLease {
		// Had the lease expired meanwhile, the key would have gone with it
		// and the compare above failed.
		if _, err := s.c.KeepAliveOnce(ctx, renew); err != nil {
			return 0, fmt.Errorf("update %s: renew its lease: %w", key, err)
		}
	}
	return resp.Header.Revision, nil
}

// updatePutOp is the put of an Update. With a TTL, it reuses the key's
// lease when that was granted with the same TTL and is still alive, and
// returns it to be renewed once the put is done.
func (s *Store) updatePutOp(ctx context.Context, key string, value []byte, opts []WriteOption) (clientv3.Op, clientv3.LeaseID, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl > 0 {
		cur, err := s.c.Get(ctx, key)
		if err != nil {
			return clientv3.Op{}, clientv3.NoLease, fmt.Errorf("update %s: %w", key, err)
		}
		if len(cur.Kvs) > 0 && cur.Kvs[0].Lease != 0 {
			lease := clientv3.LeaseID(cur.Kvs[0].Lease)
			ttl, err := s.c.TimeToLive(ctx, lease)
			if err == nil && ttl.GrantedTTL == ttlSeconds(o.ttl) && ttl.TTL > 0 {
				return clientv3.OpPut(key, string(value), clientv3.WithIgnoreLease()), lease, nil
			}
		}
	}
	put, err := s.putOp(ctx, key, value, opts)
	return put, clientv3.NoLease, err
}

// Delete removes key if its mod revision is still revision (0: any).
func (s *Store) Delete(ctx context.Context, key string, revision int64) (int64, error) {
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if revision > 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", revision)
	}
	resp, err := s.c.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		if len(resp.Responses) > 0 && len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
			return 0, fmt.Errorf("delete %s: %w", key, ErrNotFound)
		}
		return 0, fmt.Errorf("delete %s at revision %d: %w", key, revision, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// EventType is what happened to a key.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
)

// Event is one change seen by Watch. For Deleted, KV.Value is the last
// value before the delete.
type Event struct {
	Type EventType
	KV   KV
}

// Watch streams changes under prefix after revision. The channel closes when
// ctx ends; a compacted revision or another failure is sent on errc.
func (s *Store) Watch(ctx context.Context, prefix string, revision int64) (<-chan Event, <-chan error) {
	out := make(chan Event, 128)
	errc := make(chan error, 1)
	wctx := clientv3.WithRequireLeader(ctx)
	wch := s.c.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(revision+1), clientv3.WithPrevKV())
	go func() {
		defer close(out)
		defer close(errc)
		for resp := range wch {
			if err := resp.Err(); err != nil {
				errc <- fmt.Errorf("watch %s from revision %d: %w", prefix, revision, err)
				return
			}
			for _, ev := range resp.Events {
				e := toEvent(ev)
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errc
}

func toEvent(ev *clientv3.Event) Event {
	kv := KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, Revision: ev.Kv.ModRevision}
	switch {
	case ev.Type == clientv3.EventTypeDelete:
		if ev.PrevKv != nil {
			kv.Value = ev.PrevKv.Value
		}
		return Event{Type: Deleted, KV: kv}
	case ev.IsCreate():
		return Event{Type: Added, KV: kv}
	default:
		return Event{Type: Modified, KV: kv}
	}
}

// FormatRevision renders a revision as a resourceVersion string.
func FormatRevision(rev int64) string { return strconv.FormatInt(rev, 10) }

// ParseRevision parses a resourceVersion string ("" is 0).
func ParseRevision(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("resourceVersion %q: not a revision", rv)
	}
	return n, nil
}

// SplitKey returns the resource, namespace and name of a key.
func SplitKey(key string) (resource, namespace, name string) {
	parts := strings.Split(strings.TrimPrefix(key, Prefix), "/")
	switch len(parts) {
	case 2:
		return parts[0], "", parts[1]
	case 3:
		return parts[0], parts[1], parts[2]
	}
	return "", "", ""
}
