package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// configObjects keeps one watch on each ConfigMap and Secret that pods of
// this node use, as the kubelet's watch-based ConfigMap and Secret
// managers do: a pod's sync reads them from memory instead of asking the
// API server each time, and a change pokes the pods that use the object,
// so an update reaches their volumes at once rather than at their next
// periodic sync. The node authorizer lets a node list and watch one
// object by name exactly when it may get it.
//
// Until a watch has the object's current state (just started, or the
// connection is being re-established), reads go to the API server.
type configObjects struct {
	a *Agent

	mu sync.Mutex
	// ctx is the watches' lifetime, the running agent's (nil before
	// start: reads go to the API server).
	ctx  context.Context
	objs map[configKey]*watchedConfig
}

type configKey struct{ resource, namespace, name string }

// watchedConfig is one watched object.
type watchedConfig struct {
	users  map[types.UID]bool // pods that read it
	synced bool               // current is the object as the watch last saw it
	// current is the object's JSON; nil when it does not exist.
	current []byte
	cancel  context.CancelFunc
}

// configWatchRetry is how long a watch waits before listing again after a
// failure (the API server away, or its authorizer not knowing yet of the
// pod bound a moment ago); it doubles up to configWatchRetryMax.
const (
	configWatchRetry    = 500 * time.Millisecond
	configWatchRetryMax = 10 * time.Second
)

func newConfigObjects(a *Agent) *configObjects {
	return &configObjects{a: a, objs: map[configKey]*watchedConfig{}}
}

// start lets reads start watches, which end with ctx.
func (c *configObjects) start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctx = ctx
}

// get reads object ns/name of res into out for pod, which from now on is
// poked when the object changes (until release). A missing object is a
// NotFound error.
func (c *configObjects) get(ctx context.Context, res api.Resource, ns, name string, pod types.UID, out any) error {
	key := configKey{resource: res.Name, namespace: ns, name: name}
	c.mu.Lock()
	w := c.objs[key]
	if w == nil && c.ctx != nil && c.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(c.ctx)
		w = &watchedConfig{users: map[types.UID]bool{}, cancel: cancel}
		c.objs[key] = w
		go c.watch(wctx, res, key, w)
	}
	var synced bool
	var current []byte
	if w != nil {
		w.users[pod] = true
		synced, current = w.synced, w.current
	}
	c.mu.Unlock()
	switch {
	case !synced:
		return c.a.cfg.Client.Get(ctx, res, ns, name, out)
	case current == nil:
		return apierrors.NewNotFound(res.GroupResource(), name)
	}
	return json.Unmarshal(current, out)
}

// release forgets pod as a user of every object; objects no pod uses any
// more are no longer watched.
func (c *configObjects) release(pod types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, w := range c.objs {
		delete(w.users, pod)
		if len(w.users) == 0 {
			w.cancel()
			delete(c.objs, key)
		}
	}
}

// watched reports how many objects are watched (for tests).
func (c *configObjects) watched() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.objs)
}

// watch follows one object until ctx ends: list it by name, then watch
// from the listing's revision; list again when the watch ends.
func (c *configObjects) watch(ctx context.Context, res api.Resource, key configKey, w *watchedConfig) {
	opts := client.ListOptions{FieldSelector: "metadata.name=" + key.name}
	retry := configWatchRetry
	for ctx.Err() == nil {
		err := c.listAndWatch(ctx, res, key, w, opts)
		c.setUnsynced(w)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.a.log.Debug("watch of a pod's "+res.Name+" ended", "namespace", key.namespace, "name", key.name, "error", err)
			sleep(ctx, retry)
			retry = min(2*retry, configWatchRetryMax)
			continue
		}
		retry = configWatchRetry
		sleep(ctx, 200*time.Millisecond)
	}
}

func (c *configObjects) listAndWatch(ctx context.Context, res api.Resource, key configKey, w *watchedConfig, opts client.ListOptions) error {
	items, rev, err := c.a.cfg.Client.ListRaw(ctx, res, key.namespace, opts)
	if err != nil {
		return err
	}
	var current []byte
	if len(items) > 0 {
		current = items[0]
	}
	c.set(w, current)
	events, errc, err := c.a.cfg.Client.Watch(ctx, res, key.namespace, opts, rev)
	if err != nil {
		return err
	}
	for ev := range events {
		if ev.Type == "DELETED" {
			c.set(w, nil)
		} else {
			c.set(w, ev.Object)
		}
	}
	return <-errc
}

// set records the object's current state and pokes its users when it
// changed from what they may have read.
func (c *configObjects) set(w *watchedConfig, current []byte) {
	c.mu.Lock()
	changed := !sameObject(w.current, current)
	w.synced, w.current = true, current
	var users []types.UID
	if changed {
		for uid := range w.users {
			users = append(users, uid)
		}
	}
	c.mu.Unlock()
	for _, uid := range users {
		c.a.pokeWorker(uid)
	}
}

func (c *configObjects) setUnsynced(w *watchedConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.synced = false
}

// sameObject compares two objects' JSON (nil: absent).
func sameObject(a, b []byte) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	return bytes.Equal(a, b)
}
