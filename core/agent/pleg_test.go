package agent

import (
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/sdk/runtime"
)

func ctr(pod, id string, st runtime.ContainerState, exit int) runtime.ContainerStatus {
	return runtime.ContainerStatus{ID: id, State: st, ExitCode: exit, Labels: map[string]string{LabelPodUID: pod, LabelContainer: "app"}}
}

// The relist pokes exactly the pods whose containers changed.
func TestRelistFindsThePodsWhoseContainersChanged(t *testing.T) {
	before := fingerprints([]runtime.ContainerStatus{
		ctr("same", "s1", runtime.StateRunning, 0),
		ctr("same", "s2", runtime.StateExited, 1), // order must not matter
		ctr("exits", "e1", runtime.StateRunning, 0),
		ctr("restarts", "r1", runtime.StateExited, 1),
		ctr("removed", "x1", runtime.StateRunning, 0),
		ctr("code", "c1", runtime.StateExited, 0),
	})
	after := fingerprints([]runtime.ContainerStatus{
		ctr("same", "s2", runtime.StateExited, 1),
		ctr("same", "s1", runtime.StateRunning, 0),
		ctr("exits", "e1", runtime.StateExited, 137),
		ctr("restarts", "r1", runtime.StateExited, 1),
		ctr("restarts", "r2", runtime.StateCreated, 0),
		ctr("new", "n1", runtime.StateCreated, 0),
		ctr("code", "c1", runtime.StateExited, 2),
	})
	got := changedPods(before, after)
	slices.Sort(got)
	want := []types.UID{"code", "exits", "new", "removed", "restarts"}
	if !slices.Equal(got, want) {
		t.Errorf("changed pods = %v, want %v", got, want)
	}
	if got := changedPods(after, after); len(got) != 0 {
		t.Errorf("two equal listings: changed %v", got)
	}
}

func TestAppContainersSettled(t *testing.T) {
	pod := func(policy corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "app"}}}}
	}
	group := func(c ...runtime.ContainerStatus) map[string]instances { return groupInstances(c) }
	cases := []struct {
		name   string
		pod    *corev1.Pod
		groups map[string]instances
		want   bool
	}{
		{"running", pod(corev1.RestartPolicyAlways), group(ctr("p", "1", runtime.StateRunning, 0)), true},
		{"never started", pod(corev1.RestartPolicyAlways), group(), false},
		{"created, not started", pod(corev1.RestartPolicyAlways), group(ctr("p", "1", runtime.StateCreated, 0)), false},
		{"exited, to restart", pod(corev1.RestartPolicyAlways), group(ctr("p", "1", runtime.StateExited, 0)), false},
		{"failed, OnFailure", pod(corev1.RestartPolicyOnFailure), group(ctr("p", "1", runtime.StateExited, 1)), false},
		{"succeeded, OnFailure", pod(corev1.RestartPolicyOnFailure), group(ctr("p", "1", runtime.StateExited, 0)), true},
		{"failed, Never", pod(corev1.RestartPolicyNever), group(ctr("p", "1", runtime.StateExited, 1)), true},
		{"unknown state", pod(corev1.RestartPolicyNever), group(ctr("p", "1", runtime.StateUnknown, 0)), false},
	}
	for _, c := range cases {
		if got := appContainersSettled(c.pod, c.groups, nil); got != c.want {
			t.Errorf("%s: settled = %v, want %v", c.name, got, c.want)
		}
	}
}

// A settled pod waits SyncFrequency (never longer, at most a fifth less);
// a changing one or a failed sync, SyncPeriod.
func TestNextSync(t *testing.T) {
	w := newPodWorker(New(Config{NodeName: "n", SyncPeriod: time.Second, SyncFrequency: 10 * time.Second}), "uid")
	if d := w.nextSync(nil); d != time.Second {
		t.Errorf("changing pod: next sync in %v, want 1s", d)
	}
	w.settled = true
	if d := w.nextSync(errors.New("boom")); d != time.Second {
		t.Errorf("failed sync: next sync in %v, want 1s", d)
	}
	seen := map[time.Duration]bool{}
	for range 100 {
		d := w.nextSync(nil)
		if d < 8*time.Second || d > 10*time.Second {
			t.Fatalf("settled pod: next sync in %v, want within [8s, 10s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Error("settled pods all wait the same time: no jitter")
	}
}

// A pod that never restarts and whose init container failed has nothing
// left to do; with another policy the init container runs again.
func TestInitFailedForGood(t *testing.T) {
	pod := func(policy corev1.RestartPolicy) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy, InitContainers: []corev1.Container{{Name: "app"}}, Containers: []corev1.Container{{Name: "main"}}}}
	}
	failed := groupInstances([]runtime.ContainerStatus{ctr("p", "1", runtime.StateExited, 1)})
	succeeded := groupInstances([]runtime.ContainerStatus{ctr("p", "1", runtime.StateExited, 0)})
	if !initFailedForGood(pod(corev1.RestartPolicyNever), failed) {
		t.Error("Never, init failed: not done")
	}
	if initFailedForGood(pod(corev1.RestartPolicyOnFailure), failed) {
		t.Error("OnFailure, init failed: done, but it runs again")
	}
	if initFailedForGood(pod(corev1.RestartPolicyNever), succeeded) {
		t.Error("Never, init succeeded: counted as failed")
	}
}

// A container waiting for something from outside (an image loaded by hand,
// a ConfigMap made) leaves the pod settled: an event or the periodic sync
// brings it; one waiting for a retry does not.
func TestWaitingForAnEventIsSettled(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "app"}}}}
	w := newPodWorker(New(Config{NodeName: "n"}), "uid")
	for reason, settled := range map[string]bool{"ErrImageNeverPull": true, "CreateContainerConfigError": true, "ImagePullBackOff": false, "CrashLoopBackOff": false, "RunContainerError": false} {
		w.waiting = map[string]waitingState{"app": {reason: reason}}
		got := !w.retrying() && appContainersSettled(pod, groupInstances(nil), w.waiting)
		if got != settled {
			t.Errorf("waiting with %s: settled %v, want %v", reason, got, settled)
		}
	}
}

func TestInitWaitsForAnEvent(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}}, Containers: []corev1.Container{{Name: "app"}}}}
	if !initWaitsForAnEvent(pod, map[string]waitingState{"init": {reason: "CreateContainerConfigError"}}) {
		t.Error("init container waiting for a ConfigMap: not waiting for an event")
	}
	if initWaitsForAnEvent(pod, map[string]waitingState{"init": {reason: "ImagePullBackOff"}}) {
		t.Error("init container in pull back-off: counted as waiting for an event")
	}
	if initWaitsForAnEvent(pod, map[string]waitingState{"app": {reason: "ErrImageNeverPull"}}) {
		t.Error("an app container's wait counted as the init containers'")
	}
}
