package conformance

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/runtime"
)

func (s *suite) testSandbox(t *testing.T) {
	ctx := s.ctx(t)
	cfg := runtime.SandboxConfig{
		PodUID:    s.name("uid"),
		Namespace: "conformance",
		Name:      s.name("sandbox"),
		Hostname:  "sandbox-host",
		Labels:    s.labels(t, map[string]string{"app": "sandbox"}),
	}
	id, err := s.rt.RunPodSandbox(ctx, cfg)
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			ctx, cancel := s.cleanupCtx()
			defer cancel()
			s.rt.RemovePodSandbox(ctx, id)
		}
	})
	again, err := s.rt.RunPodSandbox(ctx, cfg)
	if err != nil {
		t.Fatalf("second RunPodSandbox for the same pod UID: %v", err)
	}
	if again != id {
		t.Fatalf("second RunPodSandbox for the same pod UID returned %q, want the first sandbox %q", again, id)
	}

	list, err := s.rt.ListSandboxes(ctx, cfg.Labels)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListSandboxes(%v) = %+v, want exactly the one sandbox", cfg.Labels, list)
	}
	got := list[0]
	if got.ID != id || got.PodUID != cfg.PodUID || got.Namespace != cfg.Namespace || got.Name != cfg.Name {
		t.Errorf("listed sandbox %+v does not match its config %+v (id %s)", got, cfg, id)
	}
	if !hasLabels(got.Labels, cfg.Labels) {
		t.Errorf("listed sandbox labels %v, want them to include %v", got.Labels, cfg.Labels)
	}
	if got.CreatedAt.IsZero() {
		t.Error("listed sandbox has no CreatedAt")
	}

	other, err := s.rt.ListSandboxes(ctx, s.labels(t, map[string]string{"app": "nothing-has-this"}))
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if len(other) != 0 {
		t.Errorf("ListSandboxes with a label nothing has = %+v, want none", other)
	}

	if err := s.rt.StopPodSandbox(ctx, id); err != nil {
		t.Errorf("StopPodSandbox of an empty sandbox: %v", err)
	}
	if err := s.rt.RemovePodSandbox(ctx, id); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	removed = true
	if err := s.rt.RemovePodSandbox(ctx, id); err != nil {
		t.Errorf("RemovePodSandbox of a removed sandbox: %v, want nil", err)
	}
	if err := s.rt.RemovePodSandbox(ctx, "conformance-never-existed"); err != nil {
		t.Errorf("RemovePodSandbox of an unknown sandbox: %v, want nil", err)
	}
	list, err = s.rt.ListSandboxes(ctx, cfg.Labels)
	if err != nil {
		t.Fatalf("ListSandboxes: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("ListSandboxes after removal = %+v, want none", list)
	}
}

func (s *suite) testStopPodSandbox(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	id := s.start(t, sb, runtime.ContainerConfig{Command: []string{"sleep", "1000"}})
	s.waitState(t, id, runtime.StateRunning)
	if err := s.rt.StopPodSandbox(s.ctx(t), sb); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	st := s.waitState(t, id, runtime.StateExited)
	if st.ExitCode == 0 {
		t.Errorf("container killed by StopPodSandbox exited 0, want a non-zero code")
	}
}

func (s *suite) testRemovePodSandbox(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	id := s.start(t, sb, runtime.ContainerConfig{Command: []string{"sleep", "1000"}})
	s.waitState(t, id, runtime.StateRunning)
	if err := s.rt.RemovePodSandbox(s.ctx(t), sb); err != nil {
		t.Fatalf("RemovePodSandbox with a running container: %v", err)
	}
	list, err := s.rt.ListContainers(s.ctx(t), s.labels(t, nil))
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("after RemovePodSandbox, its containers are still listed: %+v", list)
	}
	if _, err := s.rt.ContainerStatus(s.ctx(t), id); err == nil {
		t.Errorf("ContainerStatus of a container of a removed sandbox succeeded, want base.ErrNotFound")
	}
}
