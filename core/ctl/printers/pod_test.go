package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func containers(names ...string) []corev1.Container {
	var out []corev1.Container
	for _, n := range names {
		out = append(out, corev1.Container{Name: n, Image: "img"})
	}
	return out
}

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

func waiting(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(name, reason string, exit, signal int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: reason, ExitCode: exit, Signal: signal}}}
}

func withLastTermination(cs corev1.ContainerStatus, finished time.Duration) corev1.ContainerStatus {
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, FinishedAt: ago(finished)}}
	return cs
}

func always() *corev1.ContainerRestartPolicy {
	p := corev1.ContainerRestartPolicyAlways
	return &p
}

func TestSummarizePod(t *testing.T) {
	truth := true
	deleting := ago(time.Second)
	tests := []struct {
		name         string
		pod          corev1.Pod
		wantReady    string
		wantStatus   string
		wantRestarts string
	}{
		{
			name:      "pending without statuses",
			pod:       corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			wantReady: "0/1", wantStatus: "Pending", wantRestarts: "0",
		},
		{
			name: "running and ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
			wantReady: "1/1", wantStatus: "Running", wantRestarts: "0",
		},
		{
			name: "running, not ready yet",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", false, 0)}}},
			wantReady: "0/1", wantStatus: "Running", wantRestarts: "0",
		},
		{
			name: "container creating",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ContainerCreating")}}},
			wantReady: "0/1", wantStatus: "ContainerCreating", wantRestarts: "0",
		},
		{
			name: "image pull back-off",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting("a", "ImagePullBackOff")}}},
			wantReady: "0/1", wantStatus: "ImagePullBackOff", wantRestarts: "0",
		},
		{
			name: "crash loop with restarts shows the last one",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					withLastTermination(func() corev1.ContainerStatus { s := waiting("a", "CrashLoopBackOff"); s.RestartCount = 4; return s }(), 20*time.Second)}}},
			wantReady: "0/1", wantStatus: "CrashLoopBackOff", wantRestarts: "4 (20s ago)",
		},
		{
			name: "restarts without a finish time",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 3)}}},
			wantReady: "1/1", wantStatus: "Running", wantRestarts: "3",
		},
		{
			name: "completed",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
			wantReady: "0/1", wantStatus: "Completed", wantRestarts: "0",
		},
		{
			name: "error exit",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Error", 1, 0)}}},
			wantReady: "0/1", wantStatus: "Error", wantRestarts: "0",
		},
		{
			name: "OOMKilled",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "OOMKilled", 137, 0)}}},
			wantReady: "0/1", wantStatus: "OOMKilled", wantRestarts: "0",
		},
		{
			name: "terminated by signal without reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "", 0, 9)}}},
			wantReady: "0/1", wantStatus: "Signal:9", wantRestarts: "0",
		},
		{
			name: "terminated with exit code without reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "", 2, 0)}}},
			wantReady: "0/1", wantStatus: "ExitCode:2", wantRestarts: "0",
		},
		{
			name: "completed container next to a running one: Running when pod ready",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
			wantReady: "1/2", wantStatus: "Running", wantRestarts: "0",
		},
		{
			name: "completed container next to a running one: NotReady otherwise",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{
					terminated("a", "Completed", 0, 0), running("b", true, 0)}}},
			wantReady: "1/2", wantStatus: "NotReady", wantRestarts: "0",
		},
		{
			name: "first container's state wins (walked last to first)",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a", "b")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				ContainerStatuses: []corev1.ContainerStatus{
					waiting("a", "ErrImagePull"), waiting("b", "ContainerCreating")}}},
			wantReady: "0/2", wantStatus: "ErrImagePull", wantRestarts: "0",
		},
		{
			name: "init container not yet started",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase:                 corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{waiting("init", "PodInitializing")},
				ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing")}}},
			wantReady: "0/1", wantStatus: "Init:0/1", wantRestarts: "0",
		},
		{
			name: "second of two init containers running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("i1", "i2"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					terminated("i1", "Completed", 0, 0), running("i2", false, 0)}}},
			wantReady: "0/1", wantStatus: "Init:1/2", wantRestarts: "0",
		},
		{
			name: "init container crash looping",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{
					withLastTermination(func() corev1.ContainerStatus { s := waiting("init", "CrashLoopBackOff"); s.RestartCount = 2; return s }(), time.Minute)}}},
			wantReady: "0/1", wantStatus: "Init:CrashLoopBackOff", wantRestarts: "2 (60s ago)",
		},
		{
			name: "init container failed with reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "Error", 1, 0)}}},
			wantReady: "0/1", wantStatus: "Init:Error", wantRestarts: "0",
		},
		{
			name: "init container failed with signal",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "", 143, 15)}}},
			wantReady: "0/1", wantStatus: "Init:Signal:15", wantRestarts: "0",
		},
		{
			name: "init container failed with exit code",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "", 3, 0)}}},
			wantReady: "0/1", wantStatus: "Init:ExitCode:3", wantRestarts: "0",
		},
		{
			name: "init done, app container starting: PodInitializing",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase:                 corev1.PodPending,
				InitContainerStatuses: []corev1.ContainerStatus{terminated("init", "Completed", 0, 0)},
				ContainerStatuses:     []corev1.ContainerStatus{waiting("a", "PodInitializing")}}},
			wantReady: "0/1", wantStatus: "PodInitializing", wantRestarts: "0",
		},
		{
			name: "init restarts no longer count once initialized",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: containers("init"), Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodRunning,
				InitContainerStatuses: []corev1.ContainerStatus{
					withLastTermination(func() corev1.ContainerStatus {
						s := terminated("init", "Completed", 0, 0)
						s.RestartCount = 2
						return s
					}(), time.Hour)},
				ContainerStatuses: []corev1.ContainerStatus{withLastTermination(running("a", true, 4), 20*time.Second)}}},
			wantReady: "1/1", wantStatus: "Running", wantRestarts: "4 (20s ago)",
		},
		{
			name: "sidecar (restartable init container) counts as a container",
			pod: corev1.Pod{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "side", RestartPolicy: always()}},
				Containers:     containers("a")},
				Status: corev1.PodStatus{
					Phase:      corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
					InitContainerStatuses: []corev1.ContainerStatus{
						func() corev1.ContainerStatus { s := running("side", true, 1); s.Started = &truth; return s }()},
					ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
			wantReady: "2/2", wantStatus: "Running", wantRestarts: "1",
		},
		{
			name: "terminating",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting},
				Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
					Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}}},
			wantReady: "1/1", wantStatus: "Terminating", wantRestarts: "0",
		},
		{
			name: "deleted after it finished keeps its status",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting},
				Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
					Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{terminated("a", "Completed", 0, 0)}}},
			wantReady: "0/1", wantStatus: "Completed", wantRestarts: "0",
		},
		{
			name: "node lost",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting},
				Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
					Phase: corev1.PodRunning, Reason: "NodeLost"}},
			wantReady: "0/1", wantStatus: "Unknown", wantRestarts: "0",
		},
		{
			name: "pod reason overrides phase",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodFailed, Reason: "Evicted"}},
			wantReady: "0/1", wantStatus: "Evicted", wantRestarts: "0",
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{
				Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: corev1.PodReasonSchedulingGated}}}},
			wantReady: "0/1", wantStatus: "SchedulingGated", wantRestarts: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SummarizePod(&tt.pod)
			if got := s.ReadyString(); got != tt.wantReady {
				t.Errorf("READY = %q, want %q", got, tt.wantReady)
			}
			if s.Status != tt.wantStatus {
				t.Errorf("STATUS = %q, want %q", s.Status, tt.wantStatus)
			}
			if got := s.RestartsString(now); got != tt.wantRestarts {
				t.Errorf("RESTARTS = %q, want %q", got, tt.wantRestarts)
			}
		})
	}
}

func TestPodRowWide(t *testing.T) {
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod", CreationTimestamp: ago(3 * time.Hour)},
		Spec: corev1.PodSpec{Containers: containers("a"), NodeName: "node-1",
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/ok"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.1.0.5"}},
			Conditions:        []corev1.PodCondition{{Type: "example.com/ok", Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{running("a", true, 0)}},
	}
	got := PodRow(&pod, now).Cells
	want := []string{"web", "1/1", "Running", "0", "3h", "10.1.0.5", "node-1", "<none>", "1/1"}
	if len(got) != len(want) {
		t.Fatalf("cells = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("cell %d = %q, want %q", i, got[i], want[i])
		}
	}
}
