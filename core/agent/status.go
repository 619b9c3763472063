package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// postStatus computes the pod's status from what the runtime reports and
// what the worker knows, and writes it when it changed.
func (w *podWorker) postStatus(ctx context.Context, pod *corev1.Pod, groups map[string]instances) error {
	st := w.computeStatus(pod, groups)
	if sameStatus(pod.Status, st) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = st
	if err := w.a.cfg.Client.Update(ctx, api.Pods, p.Namespace, p, "status"); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // a newer version is on its way through the watch
		}
		return fmt.Errorf("pod %q in %q: update status: %w", pod.Name, pod.Namespace, err)
	}
	return nil
}

// sameStatus compares statuses as they are stored: times have one-second
// precision on the wire, so a DeepEqual would see a change every sync.
func sameStatus(a, b corev1.PodStatus) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func (w *podWorker) computeStatus(pod *corev1.Pod, groups map[string]instances) corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP:    w.a.cfg.NodeIP,
		HostIPs:   []corev1.HostIP{{IP: w.a.cfg.NodeIP}},
		StartTime: pod.Status.StartTime,
		QOSClass:  qosClass(&pod.Spec),
	}
	if st.StartTime == nil {
		now := metav1.Now()
		st.StartTime = &now
	}
	if w.netw != nil && len(w.netw.IPs) > 0 {
		st.PodIP = w.netw.IPs[0]
		for _, ip := range w.netw.IPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(c, groups[c.Name], true, false)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			initDone = false
		}
	}
	// As the kubelet: app containers of a pod with init containers wait
	// as PodInitializing until they start (after the init containers, the
	// STATUS column shows it), others as ContainerCreating.
	hasInit := len(pod.Spec.InitContainers) > 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st.ContainerStatuses = append(st.ContainerStatuses, w.containerStatus(c, groups[c.Name], false, hasInit))
	}
	st.Phase = podPhase(pod.Spec.RestartPolicy, st.InitContainerStatuses, st.ContainerStatuses)
	st.Conditions = conditions(pod, &st, initDone, w.sandboxID != "")
	return st
}

// containerStatus renders one container from its runtime instances.
func (w *podWorker) containerStatus(c *corev1.Container, is instances, isInit, podHasInit bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	started := false
	cs.Started = &started
	waiting, hasWaiting := w.waiting[c.Name]
	latest := is.latest()
	if latest == nil {
		reason := "ContainerCreating"
		if podHasInit {
			reason = "PodInitializing"
		}
		if hasWaiting && waiting.reason != "" {
			reason = waiting.reason
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: waiting.message}
		return cs
	}
	cs.RestartCount = int32(attemptOf(*latest))
	cs.ContainerID = "containerd://" + latest.ID
	cs.ImageID = latest.ImageID
	if latest.Image != "" {
		cs.Image = latest.Image
	}
	switch latest.State {
	case runtime.StateRunning:
		started = true
		cs.Ready = !isInit
		if ready, startupDone, probed := w.a.probeState.readiness(latest.ID); probed {
			started, cs.Ready = startupDone, ready && startupDone
		} else if hasProbes(c) && !isInit {
			// Probes not registered yet: not ready until they say so.
			started, cs.Ready = c.StartupProbe == nil, c.ReadinessProbe == nil && c.StartupProbe == nil
		}
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
	case runtime.StateExited:
		term := terminated(latest)
		if hasWaiting && waiting.reason != "" {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting.reason, Message: waiting.message}
			cs.LastTerminationState.Terminated = term
			return cs
		}
		cs.State.Terminated = term
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
	}
	if prev := is.previous(); prev != nil {
		cs.LastTerminationState.Terminated = terminated(prev)
	}
	return cs
}

func hasProbes(c *corev1.Container) bool {
	return c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil
}

func terminated(c *runtime.ContainerStatus) *corev1.ContainerStateTerminated {
	reason := c.Reason
	if reason == "" {
		reason = "Error"
		if c.ExitCode == 0 {
			reason = "Completed"
		}
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: reason, Message: c.Message,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt),
		ContainerID: "containerd://" + c.ID,
	}
}

// podPhase is kubelet's getPhase.
func podPhase(policy corev1.RestartPolicy, inits, apps []corev1.ContainerStatus) corev1.PodPhase {
	for _, s := range inits {
		if t := s.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		failed := s.State.Terminated != nil || s.LastTerminationState.Terminated != nil && s.State.Waiting != nil
		if failed && policy == corev1.RestartPolicyNever {
			return corev1.PodFailed
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, s := range apps {
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case policy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case policy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// conditions builds the pod's conditions, keeping transition times of
// conditions whose status did not change.
func conditions(pod *corev1.Pod, st *corev1.PodStatus, initDone, sandboxReady bool) []corev1.PodCondition {
	var out []corev1.PodCondition
	add := func(t corev1.PodConditionType, ok bool, reason, msg string) {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c = corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
		}
		c.LastTransitionTime = metav1.Now()
		for _, old := range pod.Status.Conditions {
			if old.Type == t && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	add(corev1.PodReadyToStartContainers, sandboxReady, "", "")
	var notInit []string
	for _, s := range st.InitContainerStatuses {
		if t := s.State.Terminated; t == nil || t.ExitCode != 0 {
			notInit = append(notInit, s.Name)
		}
	}
	add(corev1.PodInitialized, initDone, "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(notInit, " ")))
	var notReady []string
	for _, s := range st.ContainerStatuses {
		if !s.Ready {
			notReady = append(notReady, s.Name)
		}
	}
	ready := len(notReady) == 0
	msg := fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	add(corev1.PodReady, ready, "ContainersNotReady", msg)
	add(corev1.ContainersReady, ready, "ContainersNotReady", msg)
	for _, old := range pod.Status.Conditions {
		if old.Type == corev1.PodScheduled {
			out = append(out, old)
		}
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		for i := range out {
			if out[i].Type == corev1.PodReady || out[i].Type == corev1.ContainersReady {
				out[i].Reason = "PodCompleted"
			}
		}
	}
	return out
}

// qosClass is Kubernetes' QoS class of a pod.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	any, guaranteed := false, true
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || !hasReq || req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
