package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// DefaultSyncFrequency is how often a settled pod is synced without an
// event (Config.SyncFrequency, skiffd's --sync-frequency).
const DefaultSyncFrequency = 10 * time.Second

// relistLoop is the agent's pod lifecycle event generator, as the
// kubelet's PLEG: every RelistPeriod it lists the node's containers once
// and pokes the worker of each pod whose containers changed (one started,
// exited, was created or removed). Workers of settled pods then sync on
// these events instead of polling the runtime every second each: one
// listing per node instead of one per pod.
func (a *Agent) relistLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.RelistPeriod)
	defer t.Stop()
	// The first listing pokes every pod it finds: a container may have
	// changed between a worker's first sync and this listing.
	last := map[types.UID]string{}
	failing := 0 // relists failed in a row: warn at the first, then once a minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, err := a.containerFingerprints(ctx)
		if err != nil {
			if ctx.Err() == nil && failing%60 == 0 {
				a.log.Warn("relist containers", "error", err, "failedInARow", failing+1)
			}
			failing++
			continue
		}
		failing = 0
		for _, uid := range changedPods(last, now) {
			a.pokeWorker(uid)
		}
		last = now
	}
}

// containerFingerprints lists the node's containers and sums up, per pod,
// the state of each: two listings with the same fingerprint for a pod saw
// nothing happen to its containers.
func (a *Agent) containerFingerprints(ctx context.Context) (map[types.UID]string, error) {
	rt, err := a.runtime()
	if err != nil {
		return nil, err
	}
	cs, err := rt.ListContainers(ctx, map[string]string{LabelNode: a.cfg.NodeName})
	if err != nil {
		return nil, fmt.Errorf("node %q: list containers: %w", a.cfg.NodeName, err)
	}
	return fingerprints(cs), nil
}

func fingerprints(cs []runtime.ContainerStatus) map[types.UID]string {
	parts := map[types.UID][]string{}
	for _, c := range cs {
		uid := types.UID(c.Labels[LabelPodUID])
		parts[uid] = append(parts[uid], fmt.Sprintf("%s:%s:%d", c.ID, c.State, c.ExitCode))
	}
	out := make(map[types.UID]string, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		out[uid] = strings.Join(p, ",")
	}
	return out
}

// changedPods are the pods whose fingerprint differs between two
// listings, including pods that appear in only one of them.
func changedPods(before, after map[types.UID]string) []types.UID {
	var changed []types.UID
	for uid, f := range after {
		if before[uid] != f {
			changed = append(changed, uid)
		}
	}
	for uid := range before {
		if _, ok := after[uid]; !ok {
			changed = append(changed, uid)
		}
	}
	return changed
}

// pokeWorker makes the worker of pod uid sync now, if it has one.
func (a *Agent) pokeWorker(uid types.UID) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w != nil {
		w.poke()
	}
}
