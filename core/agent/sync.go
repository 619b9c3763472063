package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// errWaiting means a container cannot start yet; the reason is recorded in
// the worker's waiting map and shown in the pod's status.
var errWaiting = errors.New("container is waiting")

// runningAtLeast resets restart back-off, as in kubelet.
const runningResetsBackoff = 10 * time.Minute

// syncRunning makes the pod's network, sandbox and volumes, runs its init
// containers in order and then its app containers, applying the restart
// policy, and posts the pod's status.
func (w *podWorker) syncRunning(ctx context.Context, pod *corev1.Pod) error {
	rt, err := w.a.runtime()
	if err != nil {
		return err
	}
	mounts, err := w.ensureSandbox(ctx, rt, pod)
	if err != nil {
		return err
	}
	groups, err := w.listInstances(ctx, rt)
	if err != nil {
		return err
	}
	w.removeOldInstances(ctx, rt, groups)
	changed := false
	initDone, started := w.runInitContainers(ctx, rt, pod, groups, mounts)
	changed = changed || started
	if initDone {
		changed = w.runAppContainers(ctx, rt, pod, groups, mounts) || changed
	}
	if changed {
		if groups, err = w.listInstances(ctx, rt); err != nil {
			return err
		}
	}
	w.syncProbes(ctx, pod, groups)
	if err := w.postStatus(ctx, pod, groups); err != nil {
		return err
	}
	for name, is := range groups {
		// A container that runs waits for nothing (a start reported as
		// failed may have started it all the same).
		if latest := is.latest(); latest != nil && latest.State == runtime.StateRunning {
			delete(w.waiting, name)
		}
	}
	w.settled = !w.retrying() && (initDone && appContainersSettled(pod, groups, w.waiting) ||
		initFailedForGood(pod, groups) || initWaitsForAnEvent(pod, w.waiting))
	return nil
}

// waitsForAnEvent are the waiting reasons that only something from outside
// ends, which an event or the periodic sync brings, rather than a retry: an
// image loaded by hand (pull policy Never), a ConfigMap or Secret made or
// given the key (its watch pokes the pod).
var waitsForAnEvent = map[string]bool{"ErrImageNeverPull": true, "CreateContainerConfigError": true}

// retrying reports whether a container waits for a retry (back-off, a
// pull, a runtime error): the pod is then synced every SyncPeriod.
func (w *podWorker) retrying() bool {
	for _, ws := range w.waiting {
		if !waitsForAnEvent[ws.reason] {
			return true
		}
	}
	return false
}

// initWaitsForAnEvent reports whether an init container waits for
// something from outside (waitsForAnEvent): the ones after it wait too.
func initWaitsForAnEvent(pod *corev1.Pod, waiting map[string]waitingState) bool {
	for i := range pod.Spec.InitContainers {
		if waitsForAnEvent[waiting[pod.Spec.InitContainers[i].Name].reason] {
			return true
		}
	}
	return false
}

// initFailedForGood reports whether an init container failed in a pod that
// never restarts: the pod has failed, and nothing will run.
func initFailedForGood(pod *corev1.Pod, groups map[string]instances) bool {
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return false
	}
	for i := range pod.Spec.InitContainers {
		latest := groups[pod.Spec.InitContainers[i].Name].latest()
		if latest != nil && latest.State == runtime.StateExited && latest.ExitCode != 0 {
			return true
		}
	}
	return false
}

// appContainersSettled reports whether every app container runs, has
// ended and is not to be restarted, or waits for an event: nothing for the
// worker to do until something changes.
func appContainersSettled(pod *corev1.Pod, groups map[string]instances, waiting map[string]waitingState) bool {
	for i := range pod.Spec.Containers {
		name := pod.Spec.Containers[i].Name
		latest := groups[name].latest()
		switch {
		case waitsForAnEvent[waiting[name].reason]:
		case latest == nil:
			return false
		case latest.State == runtime.StateRunning:
		case latest.State == runtime.StateExited && !shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode):
		default:
			return false
		}
	}
	return true
}

// ensureSandbox sets up the pod network, sandbox and volumes (all
// idempotent) and returns the host path of each volume by name.
func (w *podWorker) ensureSandbox(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod) (map[string]string, error) {
	ref := network.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)}
	if w.netw == nil {
		net, err := w.a.network()
		if err != nil {
			return nil, err
		}
		pn, err := net.SetupPod(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("pod %q in %q: set up network: %w", pod.Name, pod.Namespace, err)
		}
		w.netw = &pn
	}
	if w.sandboxID == "" {
		id, err := rt.RunPodSandbox(ctx, runtime.SandboxConfig{
			PodUID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
			Hostname: pod.Name, NetNSPath: w.netw.NetNSPath, Labels: w.a.podLabels(pod),
		})
		if err != nil {
			return nil, fmt.Errorf("pod %q in %q: run sandbox: %w", pod.Name, pod.Namespace, err)
		}
		w.sandboxID = id
	}
	return w.prepareVolumes(ctx, pod)
}

// prepareVolumes makes (or updates, on every sync) the pod's volumes,
// reading the ConfigMaps and Secrets they name (volumes.go).
func (w *podWorker) prepareVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	return w.mountVolumes(ctx, pod)
}

func (w *podWorker) listInstances(ctx context.Context, rt runtime.Runtime) (map[string]instances, error) {
	cs, err := rt.ListContainers(ctx, map[string]string{LabelPodUID: string(w.uid)})
	if err != nil {
		return nil, err
	}
	return groupInstances(cs), nil
}

// removeOldInstances keeps the newest two instances of each container (the
// current one and the previous one, for `logs --previous`).
func (w *podWorker) removeOldInstances(ctx context.Context, rt runtime.Runtime, groups map[string]instances) {
	for _, is := range groups {
		for _, old := range is[min(len(is), 2):] {
			if old.State == runtime.StateRunning {
				continue
			}
			if err := rt.RemoveContainer(ctx, old.ID); err != nil {
				w.a.log.Warn("remove old container", "id", old.ID, "error", err)
			}
		}
	}
}

// runInitContainers runs init containers one at a time, each to success.
// It reports whether all have succeeded, and whether it started one.
func (w *podWorker) runInitContainers(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, groups map[string]instances, mounts map[string]string) (done, started bool) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		latest := groups[c.Name].latest()
		switch {
		case latest == nil:
			return false, w.start(ctx, rt, pod, c, 0, true, mounts) == nil
		case latest.State == runtime.StateCreated:
			return false, w.startCreated(ctx, rt, pod, c, latest) == nil
		case latest.State != runtime.StateExited:
			return false, false
		case latest.ExitCode == 0:
			continue
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return false, false // the pod has failed
		default:
			return false, w.restart(ctx, rt, pod, c, latest, true, mounts)
		}
	}
	return true, false
}

// runAppContainers starts app containers that never ran and restarts exited
// ones as the restart policy says. It reports whether it started any.
func (w *podWorker) runAppContainers(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, groups map[string]instances, mounts map[string]string) bool {
	started := false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := groups[c.Name].latest()
		switch {
		case latest == nil:
			started = w.start(ctx, rt, pod, c, 0, false, mounts) == nil || started
		case latest.State == runtime.StateCreated:
			started = w.startCreated(ctx, rt, pod, c, latest) == nil || started
		case latest.State == runtime.StateExited && shouldRestart(pod.Spec.RestartPolicy, latest.ExitCode):
			started = w.restart(ctx, rt, pod, c, latest, false, mounts) || started
		}
	}
	return started
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int) bool {
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// restart starts the next instance of an exited container unless it is in
// back-off, in which case the container waits in CrashLoopBackOff.
func (w *podWorker) restart(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, c *corev1.Container, latest *runtime.ContainerStatus, isInit bool, mounts map[string]string) bool {
	bo := w.restartDelay[c.Name]
	if bo == nil {
		bo = &backoff{}
		w.restartDelay[c.Name] = bo
	}
	if latest.FinishedAt.Sub(latest.StartedAt) > runningResetsBackoff {
		bo.reset()
	}
	if until := latest.FinishedAt.Add(bo.delay); time.Now().Before(until) {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", bo.delay, c.Name, pod.Name, pod.Namespace, pod.UID)
		if w.waiting[c.Name].reason != "CrashLoopBackOff" {
			_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
		w.waiting[c.Name] = waitingState{reason: "CrashLoopBackOff", message: msg}
		return false
	}
	bo.next(w.a.cfg.BackoffBase, w.a.cfg.BackoffMax)
	return w.start(ctx, rt, pod, c, attemptOf(*latest)+1, isInit, mounts) == nil
}

// start pulls the image as the pull policy says, then creates and starts
// instance number attempt of the container.
func (w *podWorker) start(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, c *corev1.Container, attempt int, isInit bool, mounts map[string]string) error {
	if err := w.ensureImage(ctx, rt, pod, c); err != nil {
		return err
	}
	cfg, err := w.a.containerConfig(pod, c, attempt, isInit, mounts)
	if err != nil {
		w.fail(ctx, pod, c, "CreateContainerConfigError", err)
		return errWaiting
	}
	id, err := rt.CreateContainer(ctx, w.sandboxID, cfg)
	if err != nil {
		reason := "CreateContainerError"
		if errors.Is(err, runtime.ErrRunAsRoot) {
			reason = "CreateContainerConfigError"
		}
		w.fail(ctx, pod, c, reason, err)
		return errWaiting
	}
	_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	return w.startCreated(ctx, rt, pod, c, &runtime.ContainerStatus{ID: id})
}

func (w *podWorker) startCreated(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, c *corev1.Container, inst *runtime.ContainerStatus) error {
	if err := rt.StartContainer(ctx, inst.ID); err != nil {
		w.fail(ctx, pod, c, "RunContainerError", err)
		return errWaiting
	}
	delete(w.waiting, c.Name)
	_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	return nil
}

// fail records why a container could not start.
func (w *podWorker) fail(ctx context.Context, pod *corev1.Pod, c *corev1.Container, reason string, err error) {
	w.waiting[c.Name] = waitingState{reason: reason, message: err.Error()}
	_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: %s", err.Error())
}

// containerConfig translates a pod container for the runtime.
func (a *Agent) containerConfig(pod *corev1.Pod, c *corev1.Container, attempt int, isInit bool, mounts map[string]string) (runtime.ContainerConfig, error) {
	labels := a.podLabels(pod)
	labels[LabelContainer] = c.Name
	labels[LabelAttempt] = strconv.Itoa(attempt)
	labels[LabelInit] = strconv.FormatBool(isInit)
	cfg := runtime.ContainerConfig{
		Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir,
		Labels: labels, LogPath: a.logPath(pod, c.Name, attempt),
		Resources: containerResources(c), TTY: c.TTY, Stdin: c.Stdin,
	}
	sec, err := a.securityConfig(pod, c)
	if err != nil {
		return cfg, err
	}
	cfg.Security = sec
	// Env and mounts read ConfigMaps, Secrets and subPaths (volumes.go).
	ctx, cancel := context.WithTimeout(context.Background(), configTimeout)
	defer cancel()
	if cfg.Env, err = a.containerEnv(ctx, pod, c); err != nil {
		return cfg, err
	}
	if cfg.Mounts, err = a.containerMounts(ctx, pod, c, mounts); err != nil {
		return cfg, err
	}
	// Cluster DNS: the pod's /etc/resolv.conf (services.go).
	if cfg.Mounts, err = a.addResolvConf(pod, c, cfg.Mounts); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// logPath is where a container instance's log lives, as kubelet lays out
// /var/log/pods: <ns>_<name>_<uid>/<container>/<attempt>.log.
func (a *Agent) logPath(pod *corev1.Pod, container string, attempt int) string {
	return filepath.Join(a.cfg.DataDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID), container, strconv.Itoa(attempt)+".log")
}

func (a *Agent) podLabels(pod *corev1.Pod) map[string]string {
	return map[string]string{
		LabelNode:         a.cfg.NodeName,
		LabelPodUID:       string(pod.UID),
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
	}
}

const cpuPeriodMicros = 100000

// containerResources maps requests and limits to cgroup settings the way
// kubelet does: shares from the CPU request, quota from the CPU limit.
func containerResources(c *corev1.Container) runtime.ContainerResources {
	var r runtime.ContainerResources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPUShares = uint64(max(2, q.MilliValue()*1024/1000))
	} else {
		r.CPUShares = 2
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && q.MilliValue() > 0 {
		r.CPUPeriod = cpuPeriodMicros
		r.CPUQuota = max(1000, q.MilliValue()*cpuPeriodMicros/1000)
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = q.Value()
	}
	return r
}

// backoff is one exponential back-off: base, doubling to max.
type backoff struct {
	delay time.Duration
}

func (b *backoff) next(base, maxDelay time.Duration) {
	switch {
	case b.delay == 0:
		b.delay = base
	case b.delay*2 > maxDelay:
		b.delay = maxDelay
	default:
		b.delay *= 2
	}
}

func (b *backoff) reset() { b.delay = 0 }
