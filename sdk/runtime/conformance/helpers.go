package conformance

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// sandbox runs a sandbox for the test and removes it when the test ends.
func (s *suite) sandbox(t *testing.T, cfg runtime.SandboxConfig) string {
	t.Helper()
	if cfg.PodUID == "" {
		cfg.PodUID = s.name("uid")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "conformance"
	}
	if cfg.Name == "" {
		cfg.Name = s.name("pod")
	}
	cfg.Labels = s.labels(t, cfg.Labels)
	id, err := s.rt.RunPodSandbox(s.ctx(t), cfg)
	if err != nil {
		t.Fatalf("RunPodSandbox(%+v): %v", cfg, err)
	}
	if id == "" {
		t.Fatalf("RunPodSandbox(%+v) returned an empty ID", cfg)
	}
	t.Cleanup(func() {
		ctx, cancel := s.cleanupCtx()
		defer cancel()
		if err := s.rt.RemovePodSandbox(ctx, id); err != nil {
			t.Errorf("cleanup: RemovePodSandbox(%s): %v", id, err)
		}
	})
	return id
}

// create creates a container from the test image in sandbox sb, with its
// log in the suite's temp dir, and removes it when the test ends.
func (s *suite) create(t *testing.T, sb string, cfg runtime.ContainerConfig) string {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "c"
	}
	if cfg.Image == "" {
		cfg.Image = s.opts.ImageRef
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(s.opts.TempDir, "logs", s.name(cfg.Name)+".log")
	}
	cfg.Labels = s.labels(t, cfg.Labels)
	id, err := s.rt.CreateContainer(s.ctx(t), sb, cfg)
	if err != nil {
		t.Fatalf("CreateContainer(%q, command %q args %q): %v", sb, cfg.Command, cfg.Args, err)
	}
	if id == "" {
		t.Fatal("CreateContainer returned an empty ID")
	}
	t.Cleanup(func() {
		ctx, cancel := s.cleanupCtx()
		defer cancel()
		if err := s.rt.RemoveContainer(ctx, id); err != nil {
			t.Errorf("cleanup: RemoveContainer(%s): %v", id, err)
		}
	})
	return id
}

// logPath is a fresh log file path in the suite's temp dir.
func (s *suite) logPath(name string) string {
	return filepath.Join(s.opts.TempDir, "logs", s.name(name)+".log")
}

// createFails creates a container that must not be created and returns the
// error; should it be created after all, it is removed when the test ends.
func (s *suite) createFails(t *testing.T, sb string, cfg runtime.ContainerConfig) error {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = s.opts.ImageRef
	}
	cfg.LogPath = s.logPath(cfg.Name)
	cfg.Labels = s.labels(t, cfg.Labels)
	id, err := s.rt.CreateContainer(s.ctx(t), sb, cfg)
	if err == nil {
		t.Cleanup(func() {
			ctx, cancel := s.cleanupCtx()
			defer cancel()
			s.rt.RemoveContainer(ctx, id)
		})
	}
	return err
}

// start creates and starts a container.
func (s *suite) start(t *testing.T, sb string, cfg runtime.ContainerConfig) string {
	t.Helper()
	id := s.create(t, sb, cfg)
	if err := s.rt.StartContainer(s.ctx(t), id); err != nil {
		t.Fatalf("StartContainer(%s) (command %q args %q): %v", id, cfg.Command, cfg.Args, err)
	}
	return id
}

// runToExit creates and starts a container and waits for it to exit.
func (s *suite) runToExit(t *testing.T, sb string, cfg runtime.ContainerConfig) runtime.ContainerStatus {
	t.Helper()
	id := s.start(t, sb, cfg)
	return s.waitState(t, id, runtime.StateExited)
}

// sh runs a shell script as the container's command.
func sh(script string) runtime.ContainerConfig {
	return runtime.ContainerConfig{Command: []string{"sh", "-c"}, Args: []string{script}}
}

// waitState polls the container's status until it is in state.
func (s *suite) waitState(t *testing.T, id string, state runtime.ContainerState) runtime.ContainerStatus {
	t.Helper()
	ctx := s.ctx(t)
	deadline := time.Now().Add(s.opts.Timeout)
	var last runtime.ContainerStatus
	for {
		st, err := s.rt.ContainerStatus(ctx, id)
		if err != nil {
			t.Fatalf("ContainerStatus(%s) while waiting for it to be %s: %v", id, state, err)
		}
		if st.State == state {
			return st
		}
		last = st
		if time.Now().After(deadline) {
			t.Fatalf("container %s is still %s after %v, want %s (status %+v; log:\n%s)", id, last.State, s.opts.Timeout, state, last, s.rawLog(last.LogPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rawLog is the log file's content, for failure messages.
func (s *suite) rawLog(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(data)
}

// logs reads the container's log through ContainerLogs, failing the test if
// that does not end within the timeout.
func (s *suite) logs(t *testing.T, id string, opts runtime.LogOptions) string {
	t.Helper()
	rc, err := s.rt.ContainerLogs(s.ctx(t), id, opts)
	if err != nil {
		t.Fatalf("ContainerLogs(%s, %+v): %v", id, opts, err)
	}
	defer rc.Close()
	return readAllWithin(t, rc, s.opts.Timeout)
}

func readAllWithin(t *testing.T, rc io.ReadCloser, d time.Duration) string {
	t.Helper()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(rc)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("reading logs: %v (read so far: %q)", r.err, r.data)
		}
		return string(r.data)
	case <-time.After(d):
		rc.Close()
		r := <-done
		t.Fatalf("reading logs did not end within %v (read so far: %q)", d, r.data)
		return ""
	}
}

// criLine is the CRI log format the contract requires of LogPath.
var criLine = regexp.MustCompile(`^(\S+) (stdout|stderr) (F|P) (.*)$`)

// criRecord is one parsed line of a CRI log file.
type criRecord struct {
	time    time.Time
	stream  string
	partial bool
	text    string
}

// readCRILog parses the log file at path, failing on any malformed line.
func readCRILog(t *testing.T, path string) []criRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	var out []criRecord
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := criLine.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("log file %s: line %q is not in the CRI format \"<RFC3339Nano> <stdout|stderr> <F|P> <text>\"", path, sc.Text())
		}
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			t.Fatalf("log file %s: line %q: time: %v", path, sc.Text(), err)
		}
		out = append(out, criRecord{time: ts, stream: m[2], partial: m[3] == "P", text: m[4]})
	}
	return out
}

// streamLines are the full lines of one stream in a CRI log, partial
// records joined.
func streamLines(recs []criRecord, stream string) []string {
	var out []string
	var cur strings.Builder
	for _, r := range recs {
		if r.stream != stream {
			continue
		}
		cur.WriteString(r.text)
		if !r.partial {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	return out
}

// wantErrorIs fails the test unless err wraps target.
func wantErrorIs(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", call, err, target)
	}
}

// hasLabels reports whether have includes every label of want.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
