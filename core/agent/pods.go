package agent

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// watchPods lists and watches the pods bound to this node and keeps one
// worker per pod. It returns when ctx ends.
func (a *Agent) watchPods(ctx context.Context) {
	opts := client.ListOptions{FieldSelector: "spec.nodeName=" + a.cfg.NodeName}
	for ctx.Err() == nil {
		if err := a.relist(ctx, opts); err != nil {
			a.log.Warn("list pods", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		events, errc, err := a.cfg.Client.Watch(ctx, api.Pods, "", opts, a.listRevision)
		if err != nil {
			a.log.Warn("watch pods", "error", err)
			sleep(ctx, time.Second)
			continue
		}
		for ev := range events {
			var pod corev1.Pod
			if err := json.Unmarshal(ev.Object, &pod); err != nil {
				a.log.Warn("decode pod event", "error", err)
				continue
			}
			if ev.Type == "DELETED" {
				a.forget(pod.UID)
			} else {
				a.upsert(ctx, &pod)
			}
		}
		if err := <-errc; err != nil {
			a.log.Warn("pod watch ended; re-listing", "error", err)
		}
		sleep(ctx, 200*time.Millisecond)
	}
	a.stopWorkers()
}

// relist replaces the pod set with a fresh listing.
func (a *Agent) relist(ctx context.Context, opts client.ListOptions) error {
	pods, rev, err := client.List[corev1.Pod](ctx, a.cfg.Client, api.Pods, "", opts)
	if err != nil {
		return err
	}
	seen := map[types.UID]bool{}
	for i := range pods {
		seen[pods[i].UID] = true
		a.upsert(ctx, &pods[i])
	}
	a.mu.Lock()
	var gone []types.UID
	for uid := range a.pods {
		if !seen[uid] {
			gone = append(gone, uid)
		}
	}
	a.listRevision = rev
	a.synced = true
	a.mu.Unlock()
	for _, uid := range gone {
		a.forget(uid)
	}
	return nil
}

// upsert records the pod's newest version and pokes (or starts) its worker.
func (a *Agent) upsert(ctx context.Context, pod *corev1.Pod) {
	a.mu.Lock()
	a.pods[pod.UID] = pod
	w, ok := a.workers[pod.UID]
	if !ok {
		w = newPodWorker(a, pod.UID)
		a.workers[pod.UID] = w
		go w.run(ctx)
	}
	a.mu.Unlock()
	w.poke()
}

// forget drops a pod that is gone from the API (deleted or force-deleted);
// its worker tears down whatever is left of it and exits.
func (a *Agent) forget(uid types.UID) {
	a.mu.Lock()
	delete(a.pods, uid)
	w := a.workers[uid]
	a.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

func (a *Agent) pod(uid types.UID) *corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pods[uid]
}

// podByName is the pod namespace/name as this node runs it, the way the
// kubelet serves exec, logs and port-forward from its pod manager rather
// than from the API server: these keep working while the API server is
// restarting, or this agent's connection to it is backing off. A pod this
// agent has not seen (yet) is asked of the API server.
func (a *Agent) podByName(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	a.mu.Lock()
	var found *corev1.Pod
	for _, p := range a.pods {
		if p.Namespace == namespace && p.Name == name && (found == nil || newerPod(p, found)) {
			found = p
		}
	}
	if found != nil {
		found = found.DeepCopy()
	}
	a.mu.Unlock()
	if found != nil {
		return found, nil
	}
	var pod corev1.Pod
	if err := a.cfg.Client.Get(ctx, api.Pods, namespace, name, &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

// newerPod reports whether p rather than q is the pod a name means now,
// when both have it (one deleted, one made since under the same name): the
// one not being deleted, else the newer.
func newerPod(p, q *corev1.Pod) bool {
	if (p.DeletionTimestamp == nil) != (q.DeletionTimestamp == nil) {
		return p.DeletionTimestamp == nil
	}
	return q.CreationTimestamp.Before(&p.CreationTimestamp)
}

func (a *Agent) workerDone(uid types.UID) {
	// Before the worker goes from the map: a worker started for the same
	// UID after that registers its reads anew, and must keep them.
	a.configs.release(uid)
	a.mu.Lock()
	delete(a.workers, uid)
	a.mu.Unlock()
}

func (a *Agent) stopWorkers() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		w.stop()
	}
}

// gcOrphans removes sandboxes of pods that this node no longer has, e.g.
// pods force-deleted while the agent was down.
func (a *Agent) gcOrphans(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		synced := a.synced
		a.mu.Unlock()
		if !synced {
			continue
		}
		rt, err := a.runtime()
		if err != nil {
			continue
		}
		sandboxes, err := rt.ListSandboxes(ctx, map[string]string{LabelNode: a.cfg.NodeName})
		if err != nil {
			continue
		}
		for _, sb := range sandboxes {
			uid := types.UID(sb.Labels[LabelPodUID])
			a.mu.Lock()
			_, known := a.pods[uid]
			_, working := a.workers[uid]
			a.mu.Unlock()
			if !known && !working {
				a.log.Info("removing orphaned pod sandbox", "pod", sb.Namespace+"/"+sb.Name, "uid", uid)
				ref := podRef{uid: uid, namespace: sb.Namespace, name: sb.Name}
				if err := a.teardown(ctx, ref, 0); err != nil {
					a.log.Warn("remove orphan", "pod", sb.Namespace+"/"+sb.Name, "error", err)
				}
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
