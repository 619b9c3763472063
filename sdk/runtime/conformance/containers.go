package conformance

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func (s *suite) testRunToCompletion(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	t.Run("Error", func(t *testing.T) {
		cfg := sh(`echo hello; echo oops >&2; pwd; echo "FOO=$FOO"; exit 3`)
		cfg.Name = "fails"
		cfg.Env = []string{"FOO=bar"}
		cfg.WorkingDir = "/tmp"
		cfg.Labels = map[string]string{"app": "fails"}
		id := s.create(t, sb, cfg)

		st, err := s.rt.ContainerStatus(s.ctx(t), id)
		if err != nil {
			t.Fatalf("ContainerStatus of a created container: %v", err)
		}
		if st.State != runtime.StateCreated || st.ID != id || st.SandboxID != sb || st.Name != "fails" {
			t.Errorf("created container status %+v: want state created, ID %s, sandbox %s, name fails", st, id, sb)
		}
		if st.Image != s.opts.ImageRef || !strings.HasPrefix(st.ImageID, "sha256:") {
			t.Errorf("created container status image %q id %q, want %q and a digest", st.Image, st.ImageID, s.opts.ImageRef)
		}
		if !hasLabels(st.Labels, s.labels(t, cfg.Labels)) || st.CreatedAt.IsZero() || st.LogPath == "" {
			t.Errorf("created container status %+v: want its labels, CreatedAt and LogPath", st)
		}

		if err := s.rt.StartContainer(s.ctx(t), id); err != nil {
			t.Fatalf("StartContainer: %v", err)
		}
		st = s.waitState(t, id, runtime.StateExited)
		if st.ExitCode != 3 || st.Reason != "Error" {
			t.Errorf("exited with code %d reason %q, want 3 and Error", st.ExitCode, st.Reason)
		}
		if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("StartedAt %v, FinishedAt %v: want both, in order", st.StartedAt, st.FinishedAt)
		}

		recs := readCRILog(t, st.LogPath)
		if got, want := streamLines(recs, "stdout"), []string{"hello", "/tmp", "FOO=bar"}; !slices.Equal(got, want) {
			t.Errorf("stdout lines in %s = %q, want %q (env appended, working dir set)", st.LogPath, got, want)
		}
		if got, want := streamLines(recs, "stderr"), []string{"oops"}; !slices.Equal(got, want) {
			t.Errorf("stderr lines in %s = %q, want %q", st.LogPath, got, want)
		}
		logs := s.logs(t, id, runtime.LogOptions{TailLines: -1})
		for _, want := range []string{"hello\n", "oops\n", "/tmp\n", "FOO=bar\n"} {
			if !strings.Contains(logs, want) {
				t.Errorf("ContainerLogs = %q, want it to contain %q", logs, want)
			}
		}
	})
	t.Run("Completed", func(t *testing.T) {
		st := s.runToExit(t, sb, runtime.ContainerConfig{Name: "ok", Command: []string{"true"}})
		if st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("true exited with code %d reason %q, want 0 and Completed", st.ExitCode, st.Reason)
		}
	})
	t.Run("StatusStaysAfterExit", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Name: "exit5", Command: []string{"sh", "-c", "exit 5"}})
		first := s.waitState(t, id, runtime.StateExited)
		time.Sleep(200 * time.Millisecond)
		again, err := s.rt.ContainerStatus(s.ctx(t), id)
		if err != nil {
			t.Fatalf("ContainerStatus: %v", err)
		}
		if again.State != runtime.StateExited || again.ExitCode != 5 || !again.FinishedAt.Equal(first.FinishedAt) {
			t.Errorf("status changed after exit: first %+v, then %+v", first, again)
		}
	})
}

func (s *suite) testCommandAndArgs(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	// The test image has Cmd ["sh"] and no entrypoint.
	cases := []struct {
		name    string
		command []string
		args    []string
		want    string
	}{
		{"ArgsReplaceCmd", nil, []string{"echo", "args-only"}, "args-only\n"},
		{"CommandDropsCmd", []string{"echo", "command-only"}, nil, "command-only\n"},
		{"CommandAndArgs", []string{"echo"}, []string{"a", "b"}, "a b\n"},
		{"ImageCmd", nil, nil, ""}, // sh with no input exits 0 at once
		{"ImageEnvKept", []string{"sh", "-c", `echo "$PATH" | grep -q /bin && echo has-path`}, nil, "has-path\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := s.start(t, sb, runtime.ContainerConfig{Name: strings.ToLower(tc.name), Command: tc.command, Args: tc.args, Env: []string{"EXTRA=1"}})
			st := s.waitState(t, id, runtime.StateExited)
			if st.ExitCode != 0 {
				t.Errorf("exited %d (%s), want 0; log:\n%s", st.ExitCode, st.Reason, s.rawLog(st.LogPath))
			}
			if got := s.logs(t, id, runtime.LogOptions{TailLines: -1}); got != tc.want {
				t.Errorf("command %q args %q printed %q, want %q", tc.command, tc.args, got, tc.want)
			}
		})
	}
}

func (s *suite) testLogs(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	t.Run("Tail", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Name: "seq", Command: []string{"seq", "1", "5"}})
		s.waitState(t, id, runtime.StateExited)
		for _, tc := range []struct {
			tail int64
			want string
		}{{-1, "1\n2\n3\n4\n5\n"}, {2, "4\n5\n"}, {0, ""}, {10, "1\n2\n3\n4\n5\n"}} {
			if got := s.logs(t, id, runtime.LogOptions{TailLines: tc.tail}); got != tc.want {
				t.Errorf("logs with TailLines %d = %q, want %q", tc.tail, got, tc.want)
			}
		}
	})
	t.Run("Timestamps", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Name: "stamped", Command: []string{"echo", "stamped"}})
		st := s.waitState(t, id, runtime.StateExited)
		got := s.logs(t, id, runtime.LogOptions{TailLines: -1, Timestamps: true})
		ts, text, ok := strings.Cut(strings.TrimSuffix(got, "\n"), " ")
		if !ok || text != "stamped" {
			t.Fatalf("logs with timestamps = %q, want \"<time> stamped\\n\"", got)
		}
		when, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			t.Fatalf("timestamp %q: %v", ts, err)
		}
		if when.Before(st.CreatedAt.Add(-time.Minute)) || when.After(time.Now().Add(time.Minute)) {
			t.Errorf("timestamp %v is not around the container's run (created %v)", when, st.CreatedAt)
		}
	})
	t.Run("FollowEndsAfterExit", func(t *testing.T) {
		id := s.start(t, sb, sh(`for i in 1 2 3; do echo line$i; sleep 0.3; done`))
		start := time.Now()
		got := s.logs(t, id, runtime.LogOptions{Follow: true, TailLines: -1})
		if got != "line1\nline2\nline3\n" {
			t.Errorf("followed logs = %q, want all three lines", got)
		}
		if time.Since(start) < 500*time.Millisecond {
			t.Errorf("following ended after %v, before the container could have finished", time.Since(start))
		}
		if st, err := s.rt.ContainerStatus(s.ctx(t), id); err != nil || st.State != runtime.StateExited {
			t.Errorf("following ended while the container is %v (%v)", st.State, err)
		}
	})
	t.Run("FollowExited", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Name: "done", Command: []string{"echo", "done"}})
		s.waitState(t, id, runtime.StateExited)
		if got := s.logs(t, id, runtime.LogOptions{Follow: true, TailLines: 1}); got != "done\n" {
			t.Errorf("following an exited container = %q, want %q", got, "done\n")
		}
	})
	t.Run("LongLine", func(t *testing.T) {
		// 2^16 x's on one line: longer than any sane record, so the runtime
		// splits it into partial records and ContainerLogs joins them again.
		id := s.start(t, sb, sh(`s=x; i=0; while [ $i -lt 16 ]; do s=$s$s; i=$((i+1)); done; echo $s; echo after`))
		st := s.waitState(t, id, runtime.StateExited)
		want := strings.Repeat("x", 1<<16) + "\nafter\n"
		if got := s.logs(t, id, runtime.LogOptions{TailLines: -1}); got != want {
			t.Errorf("logs of a 64 KiB line: got %d bytes, want %d (first 100: %q)", len(got), len(want), got[:min(len(got), 100)])
		}
		if lines := streamLines(readCRILog(t, st.LogPath), "stdout"); len(lines) != 2 || len(lines[0]) != 1<<16 {
			t.Errorf("log file has %d stdout lines, want the long line and \"after\"", len(lines))
		}
	})
}

func (s *suite) testListContainers(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	a := s.create(t, sb, runtime.ContainerConfig{Name: "a", Command: []string{"true"}, Labels: map[string]string{"app": "a"}})
	b := s.create(t, sb, runtime.ContainerConfig{Name: "b", Command: []string{"true"}, Labels: map[string]string{"app": "b"}})

	list, err := s.rt.ListContainers(s.ctx(t), s.labels(t, map[string]string{"app": "a"}))
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	if len(list) != 1 || list[0].ID != a || list[0].Name != "a" || list[0].SandboxID != sb || list[0].State != runtime.StateCreated {
		t.Errorf("ListContainers(app=a) = %+v, want only container a (%s), created, in sandbox %s", list, a, sb)
	}
	list, err = s.rt.ListContainers(s.ctx(t), s.labels(t, nil))
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("ListContainers(test labels) = %v, want %v", ids, want)
	}
}

func (s *suite) testStopContainer(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	t.Run("Kill", func(t *testing.T) {
		// sleep as PID 1 ignores SIGTERM, so only SIGKILL stops it.
		id := s.start(t, sb, runtime.ContainerConfig{Name: "sleep", Command: []string{"sleep", "1000"}})
		st := s.waitState(t, id, runtime.StateRunning)
		if st.PID <= 0 || st.StartedAt.IsZero() {
			t.Errorf("running container status %+v: want a PID and StartedAt", st)
		}
		start := time.Now()
		if err := s.rt.StopContainer(s.ctx(t), id, time.Second); err != nil {
			t.Fatalf("StopContainer: %v", err)
		}
		if d := time.Since(start); d > s.opts.Timeout {
			t.Errorf("StopContainer with a 1s timeout took %v", d)
		}
		st, err := s.rt.ContainerStatus(s.ctx(t), id)
		if err != nil {
			t.Fatalf("ContainerStatus: %v", err)
		}
		if st.State != runtime.StateExited || st.ExitCode == 0 || st.Reason != "Error" {
			t.Errorf("after StopContainer: %+v, want exited with a non-zero code and reason Error", st)
		}
		if err := s.rt.StopContainer(s.ctx(t), id, time.Second); err != nil {
			t.Errorf("StopContainer of a stopped container: %v, want nil", err)
		}
	})
	t.Run("Graceful", func(t *testing.T) {
		id := s.start(t, sb, sh(`trap "echo got TERM; exit 0" TERM; echo ready; while true; do sleep 0.1; done`))
		s.waitState(t, id, runtime.StateRunning)
		s.waitLog(t, id, "ready")
		start := time.Now()
		if err := s.rt.StopContainer(s.ctx(t), id, 20*time.Second); err != nil {
			t.Fatalf("StopContainer: %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("a container that exits on SIGTERM took %v to stop: was SIGTERM sent?", d)
		}
		st, err := s.rt.ContainerStatus(s.ctx(t), id)
		if err != nil {
			t.Fatalf("ContainerStatus: %v", err)
		}
		if st.State != runtime.StateExited || st.ExitCode != 0 || st.Reason != "Completed" {
			t.Errorf("after a graceful stop: %+v, want exited 0, Completed", st)
		}
		if logs := s.logs(t, id, runtime.LogOptions{TailLines: -1}); !strings.Contains(logs, "got TERM") {
			t.Errorf("logs %q: the container did not see SIGTERM", logs)
		}
	})
}

// waitLog waits until the container's log has a line with text.
func (s *suite) waitLog(t *testing.T, id, text string) {
	t.Helper()
	deadline := time.Now().Add(s.opts.Timeout)
	for {
		got := s.logs(t, id, runtime.LogOptions{TailLines: -1})
		if strings.Contains(got, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s never showed %q; it has %q", id, text, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *suite) testMounts(t *testing.T) {
	ro := filepath.Join(s.opts.TempDir, s.name("ro"))
	rw := filepath.Join(s.opts.TempDir, s.name("rw"))
	for _, d := range []string{ro, rw} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ro, "data.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb := s.sandbox(t, runtime.SandboxConfig{})
	cfg := sh(`cat /ro/data.txt; touch /ro/new 2>/dev/null && echo ro-is-writable || echo ro-is-read-only; echo written > /rw/out`)
	cfg.Mounts = []runtime.Mount{
		{HostPath: ro, ContainerPath: "/ro", ReadOnly: true},
		{HostPath: rw, ContainerPath: "/rw"},
	}
	id := s.start(t, sb, cfg)
	st := s.waitState(t, id, runtime.StateExited)
	if got := s.logs(t, id, runtime.LogOptions{TailLines: -1}); got != "from the host\nro-is-read-only\n" {
		t.Errorf("container output %q, want the host file and a read-only mount", got)
	}
	if data, err := os.ReadFile(filepath.Join(rw, "out")); err != nil || string(data) != "written\n" {
		t.Errorf("file written through the read-write mount: %q, %v", data, err)
	}
	if st.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", st.ExitCode)
	}
}

func (s *suite) testHostname(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{Hostname: "conformance-host"})
	id := s.start(t, sb, runtime.ContainerConfig{Command: []string{"hostname"}})
	s.waitState(t, id, runtime.StateExited)
	if got := s.logs(t, id, runtime.LogOptions{TailLines: -1}); got != "conformance-host\n" {
		t.Errorf("hostname in the container = %q, want the sandbox's \"conformance-host\"", got)
	}
}

func (s *suite) testRemoveContainer(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	t.Run("Exited", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Command: []string{"echo", "bye"}})
		st := s.waitState(t, id, runtime.StateExited)
		if err := s.rt.RemoveContainer(s.ctx(t), id); err != nil {
			t.Fatalf("RemoveContainer: %v", err)
		}
		_, err := s.rt.ContainerStatus(s.ctx(t), id)
		wantErrorIs(t, "ContainerStatus of a removed container", err, base.ErrNotFound)
		if err := s.rt.RemoveContainer(s.ctx(t), id); err != nil {
			t.Errorf("RemoveContainer again: %v, want nil", err)
		}
		if data, err := os.ReadFile(st.LogPath); err != nil || !strings.Contains(string(data), "bye") {
			t.Errorf("log file after RemoveContainer: %q, %v; want it kept", data, err)
		}
	})
	t.Run("Running", func(t *testing.T) {
		id := s.start(t, sb, runtime.ContainerConfig{Command: []string{"sleep", "1000"}})
		s.waitState(t, id, runtime.StateRunning)
		if err := s.rt.RemoveContainer(s.ctx(t), id); err != nil {
			t.Fatalf("RemoveContainer of a running container: %v", err)
		}
		_, err := s.rt.ContainerStatus(s.ctx(t), id)
		wantErrorIs(t, "ContainerStatus of a removed container", err, base.ErrNotFound)
	})
}

func (s *suite) testMissingImage(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	_, err := s.rt.CreateContainer(s.ctx(t), sb, runtime.ContainerConfig{
		Name:    "missing",
		Image:   "skiff.invalid/conformance/missing:0",
		LogPath: filepath.Join(s.opts.TempDir, "logs", s.name("missing")+".log"),
		Labels:  s.labels(t, nil),
	})
	wantErrorIs(t, "CreateContainer with an image that is not there", err, runtime.ErrImageNotPresent)
}

func (s *suite) testUnknownContainer(t *testing.T) {
	_, err := s.rt.ContainerStatus(s.ctx(t), "conformance-unknown")
	wantErrorIs(t, "ContainerStatus of an unknown container", err, base.ErrNotFound)
	if err := s.rt.RemoveContainer(s.ctx(t), "conformance-unknown"); err != nil {
		t.Errorf("RemoveContainer of an unknown container: %v, want nil", err)
	}
	_, err = s.rt.Exec(s.ctx(t), "conformance-unknown", runtime.ExecOptions{Cmd: []string{"true"}})
	wantErrorIs(t, "Exec in an unknown container", err, base.ErrNotFound)
}
