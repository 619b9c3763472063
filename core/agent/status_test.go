package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/skiffhq/skiff/sdk/runtime"
)

func running() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waiting() corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
}

func crashLooping() corev1.ContainerStatus {
	s := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
	s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
	return s
}

func TestPodPhaseFollowsKubelet(t *testing.T) {
	always, never, onFailure := corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure
	type cs = []corev1.ContainerStatus
	cases := []struct {
		name   string
		policy corev1.RestartPolicy
		inits  cs
		apps   cs
		want   corev1.PodPhase
	}{
		{"creating", always, nil, cs{waiting()}, corev1.PodPending},
		{"running", always, nil, cs{running()}, corev1.PodRunning},
		{"one of two still creating", always, nil, cs{running(), waiting()}, corev1.PodPending},
		{"crash loop is running", always, nil, cs{crashLooping()}, corev1.PodRunning},
		{"all succeeded, Never", never, nil, cs{exited(0), exited(0)}, corev1.PodSucceeded},
		{"one failed, Never", never, nil, cs{exited(0), exited(2)}, corev1.PodFailed},
		{"failed, OnFailure restarts", onFailure, nil, cs{exited(2)}, corev1.PodRunning},
		{"succeeded, OnFailure", onFailure, nil, cs{exited(0)}, corev1.PodSucceeded},
		{"exited, Always restarts", always, nil, cs{exited(0)}, corev1.PodRunning},
		{"init running", always, cs{running()}, cs{waiting()}, corev1.PodPending},
		{"init failed, Never", never, cs{exited(1)}, cs{waiting()}, corev1.PodFailed},
		{"init failed, Always retries", always, cs{crashLooping()}, cs{waiting()}, corev1.PodPending},
		{"init done", always, cs{exited(0)}, cs{running()}, corev1.PodRunning},
	}
	for _, tc := range cases {
		if got := podPhase(tc.policy, tc.inits, tc.apps); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestContainerStatusFromInstances(t *testing.T) {
	w := newPodWorker(New(Config{NodeName: "n"}), "uid")
	c := &corev1.Container{Name: "app", Image: "busybox:1"}
	now := time.Now()
	latest := runtime.ContainerStatus{ID: "new", State: runtime.StateRunning, StartedAt: now, Labels: map[string]string{LabelAttempt: "2"}}
	prev := runtime.ContainerStatus{ID: "old", State: runtime.StateExited, ExitCode: 137, Reason: "OOMKilled", StartedAt: now.Add(-time.Minute), FinishedAt: now, Labels: map[string]string{LabelAttempt: "1"}}
	st := w.containerStatus(c, instances{latest, prev}, false, false)
	if st.RestartCount != 2 || st.State.Running == nil || !st.Ready || st.ContainerID != "containerd://new" {
		t.Errorf("running container status: %+v", st)
	}
	if lt := st.LastTerminationState.Terminated; lt == nil || lt.Reason != "OOMKilled" || lt.ExitCode != 137 {
		t.Errorf("last state: %+v", st.LastTerminationState)
	}
	// In back-off: waiting, with the exited instance as the last state.
	w.waiting["app"] = waitingState{reason: "CrashLoopBackOff", message: "back-off 10s"}
	st = w.containerStatus(c, instances{prev}, false, false)
	if st.State.Waiting == nil || st.State.Waiting.Reason != "CrashLoopBackOff" || st.LastTerminationState.Terminated == nil {
		t.Errorf("back-off status: %+v", st)
	}
	// Never started, while init containers run.
	delete(w.waiting, "app")
	st = w.containerStatus(c, nil, false, true)
	if st.State.Waiting == nil || st.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("waiting status: %+v", st)
	}
}

func TestQOSClass(t *testing.T) {
	res := func(req, lim string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{}
		if req != "" {
			r.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(req), corev1.ResourceMemory: resource.MustParse(req + "Mi")}
		}
		if lim != "" {
			r.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(lim), corev1.ResourceMemory: resource.MustParse(lim + "Mi")}
		}
		return r
	}
	for _, tc := range []struct {
		req, lim string
		want     corev1.PodQOSClass
	}{{"", "", corev1.PodQOSBestEffort}, {"1", "1", corev1.PodQOSGuaranteed}, {"1", "2", corev1.PodQOSBurstable}, {"1", "", corev1.PodQOSBurstable}} {
		spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: res(tc.req, tc.lim)}}}
		if got := qosClass(spec); got != tc.want {
			t.Errorf("requests %q limits %q: %s, want %s", tc.req, tc.lim, got, tc.want)
		}
	}
}

func TestBackoffDoublesToMax(t *testing.T) {
	var b backoff
	var got []time.Duration
	for i := 0; i < 7; i++ {
		b.next(10*time.Second, 5*time.Minute)
		got = append(got, b.delay)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
}
