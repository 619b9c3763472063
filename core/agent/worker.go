package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// podWorker owns one pod on this node: it syncs it on every change of the
// pod or of its containers, and periodically (nextSync), and tears it down
// when the pod is deleted.
type podWorker struct {
	a       *Agent
	uid     types.UID
	trigger chan struct{}
	done    chan struct{}
	once    sync.Once

	// What the runtime cannot tell: why a container is waiting, and the
	// back-off state of restarts and pulls. Lost on agent restart, as in
	// kubelet.
	waiting      map[string]waitingState
	restartDelay map[string]*backoff
	pullDelay    map[string]*pullBackoff
	netw         *network.PodNetwork
	sandboxID    string
	// settled is set by a sync that left nothing to do until something
	// happens (syncRunning): the next periodic sync can wait longer.
	settled bool
}

type waitingState struct {
	reason, message string
}

func newPodWorker(a *Agent, uid types.UID) *podWorker {
	return &podWorker{
		a: a, uid: uid,
		trigger:      make(chan struct{}, 1),
		done:         make(chan struct{}),
		waiting:      map[string]waitingState{},
		restartDelay: map[string]*backoff{},
		pullDelay:    map[string]*pullBackoff{},
	}
}

func (w *podWorker) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

func (w *podWorker) stop() { w.once.Do(func() { close(w.done) }) }

func (w *podWorker) run(ctx context.Context) {
	defer w.a.workerDone(w.uid)
	t := time.NewTimer(w.a.cfg.SyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case <-w.trigger:
		case <-t.C:
		}
		w.settled = false
		finished, err := w.sync(ctx)
		if err != nil && ctx.Err() == nil {
			w.a.log.Warn("sync pod", "uid", w.uid, "error", err)
		}
		if finished {
			return
		}
		t.Reset(w.nextSync(err))
	}
}

// nextSync is how long the worker waits for an event before it syncs the
// pod again: SyncPeriod while the pod is changing or the sync failed,
// SyncFrequency once it has settled, less up to a fifth at random so that
// pods started together do not sync together for ever (never more, so
// that a ConfigMap update reaches volumes within SyncFrequency).
func (w *podWorker) nextSync(err error) time.Duration {
	if err != nil || !w.settled {
		return w.a.cfg.SyncPeriod
	}
	f := w.a.cfg.SyncFrequency
	return f - rand.N(f/5+1)
}

// podRef names a pod even after its object is gone.
type podRef struct {
	uid             types.UID
	namespace, name string
}

// sync brings the node in line with the pod. It returns true when the pod
// is gone and the worker should exit.
func (w *podWorker) sync(ctx context.Context) (bool, error) {
	pod := w.a.pod(w.uid)
	if pod == nil {
		// Deleted from the API (force delete, or after our own final
		// delete): remove whatever is left.
		ref, err := w.findRef(ctx)
		if err != nil {
			return false, err
		}
		return true, w.a.teardown(ctx, ref, 0)
	}
	ref := podRef{uid: pod.UID, namespace: pod.Namespace, name: pod.Name}
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod, ref)
	}
	return false, w.syncRunning(ctx, pod)
}

// findRef recovers the namespace and name of a pod from its sandbox.
func (w *podWorker) findRef(ctx context.Context) (podRef, error) {
	ref := podRef{uid: w.uid}
	rt, err := w.a.runtime()
	if err != nil {
		return ref, err
	}
	sbs, err := rt.ListSandboxes(ctx, map[string]string{LabelPodUID: string(w.uid)})
	if err != nil {
		return ref, err
	}
	if len(sbs) > 0 {
		ref.namespace, ref.name = sbs[0].Namespace, sbs[0].Name
	}
	return ref, nil
}

// terminate stops the pod's containers within its grace period, removes
// everything, and then removes the pod object.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, ref podRef) (bool, error) {
	grace := int64(30)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	if err := w.a.killContainers(ctx, pod, time.Duration(grace)*time.Second); err != nil {
		return false, err
	}
	if err := w.a.teardown(ctx, ref, 0); err != nil {
		return false, err
	}
	// This pod, not one made since under its name (as the kubelet does).
	_, err := w.a.cfg.Client.Delete(ctx, api.Pods, pod.Namespace, pod.Name, client.DeleteOptions{GracePeriodSeconds: 0, PreconditionUID: string(pod.UID)})
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("pod %q in %q: remove object: %w", pod.Name, pod.Namespace, err)
	}
	return true, nil
}

// killContainers stops every running container of the pod, in parallel,
// each with SIGTERM then SIGKILL after the grace period.
func (a *Agent) killContainers(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	rt, err := a.runtime()
	if err != nil {
		return err
	}
	cs, err := rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID)})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		if c.State != runtime.StateRunning {
			continue
		}
		name := c.Labels[LabelContainer]
		_ = a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.StopContainer(ctx, c.ID, grace); err != nil {
				errs[i] = fmt.Errorf("stop container %q: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// teardown removes the pod's containers, network, volumes and sandbox.
func (a *Agent) teardown(ctx context.Context, ref podRef, grace time.Duration) error {
	rt, err := a.runtime()
	if err != nil {
		return err
	}
	sbs, err := rt.ListSandboxes(ctx, map[string]string{LabelPodUID: string(ref.uid)})
	if err != nil {
		return err
	}
	cs, err := rt.ListContainers(ctx, map[string]string{LabelPodUID: string(ref.uid)})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.State == runtime.StateRunning {
			if err := rt.StopContainer(ctx, c.ID, grace); err != nil {
				return fmt.Errorf("pod %s/%s: stop container %s: %w", ref.namespace, ref.name, c.ID, err)
			}
		}
		if err := rt.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("pod %s/%s: remove container %s: %w", ref.namespace, ref.name, c.ID, err)
		}
	}
	net, err := a.network()
	if err != nil {
		return err
	}
	if err := net.TeardownPod(ctx, network.PodRef{Namespace: ref.namespace, Name: ref.name, UID: string(ref.uid)}); err != nil {
		return fmt.Errorf("pod %s/%s: tear down network: %w", ref.namespace, ref.name, err)
	}
	vols, err := a.volumes()
	if err != nil {
		return err
	}
	if err := vols.Teardown(ctx, string(ref.uid)); err != nil {
		return fmt.Errorf("pod %s/%s: tear down volumes: %w", ref.namespace, ref.name, err)
	}
	// The sandbox goes last: it is how an orphan is found again, so a
	// teardown cut short (agent killed) is finished by the next one.
	for _, sb := range sbs {
		if err := rt.RemovePodSandbox(ctx, sb.ID); err != nil {
			return fmt.Errorf("pod %s/%s: remove sandbox: %w", ref.namespace, ref.name, err)
		}
	}
	return nil
}

// instances are the runtime containers of one pod container, newest first.
type instances []runtime.ContainerStatus

func attemptOf(c runtime.ContainerStatus) int {
	n, _ := strconv.Atoi(c.Labels[LabelAttempt])
	return n
}

// groupInstances groups a pod's runtime containers by container name.
func groupInstances(cs []runtime.ContainerStatus) map[string]instances {
	out := map[string]instances{}
	for _, c := range cs {
		name := c.Labels[LabelContainer]
		out[name] = append(out[name], c)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return attemptOf(list[i]) > attemptOf(list[j]) })
	}
	return out
}

func (is instances) latest() *runtime.ContainerStatus {
	if len(is) == 0 {
		return nil
	}
	return &is[0]
}

func (is instances) previous() *runtime.ContainerStatus {
	if len(is) < 2 {
		return nil
	}
	return &is[1]
}
