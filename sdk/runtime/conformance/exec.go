package conformance

import (
	"bytes"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/runtime"
)

func (s *suite) testExec(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	id := s.start(t, sb, runtime.ContainerConfig{Name: "target", Command: []string{"sleep", "1000"}})
	s.waitState(t, id, runtime.StateRunning)

	t.Run("ExitCodeAndOutput", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		code, err := s.rt.Exec(s.ctx(t), id, runtime.ExecOptions{
			Cmd:    []string{"sh", "-c", "echo out; echo err >&2; exit 7"},
			Stdout: &stdout, Stderr: &stderr,
		})
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if code != 7 || stdout.String() != "out\n" || stderr.String() != "err\n" {
			t.Errorf("Exec = code %d, stdout %q, stderr %q; want 7, \"out\\n\", \"err\\n\"", code, stdout.String(), stderr.String())
		}
	})
	t.Run("Stdin", func(t *testing.T) {
		var stdout bytes.Buffer
		input := strings.Repeat("hello stdin\n", 1000)
		code, err := s.rt.Exec(s.ctx(t), id, runtime.ExecOptions{Cmd: []string{"cat"}, Stdin: strings.NewReader(input), Stdout: &stdout})
		if err != nil {
			t.Fatalf("Exec cat: %v", err)
		}
		if code != 0 || stdout.String() != input {
			t.Errorf("Exec cat = code %d and %d bytes out, want 0 and the %d bytes of stdin", code, stdout.Len(), len(input))
		}
	})
	t.Run("TTYAndResize", func(t *testing.T) {
		var out bytes.Buffer
		resize := make(chan runtime.TermSize, 1)
		resize <- runtime.TermSize{Width: 123, Height: 45}
		// A size waiting on Resize at the call is the initial size, which
		// the command must see from its start.
		code, err := s.rt.Exec(s.ctx(t), id, runtime.ExecOptions{
			Cmd: []string{"sh", "-c", "[ -t 1 ] && echo is-a-tty; /bin/busybox stty size"},
			TTY: true, Stdout: &out, Resize: resize,
		})
		if err != nil {
			t.Fatalf("Exec with a TTY: %v", err)
		}
		got := out.String()
		if code != 0 || !strings.Contains(got, "is-a-tty") || !strings.Contains(got, "45 123") {
			t.Errorf("Exec with a TTY = code %d, output %q; want 0, a terminal and the size 45 123", code, got)
		}
	})
	t.Run("NotRunning", func(t *testing.T) {
		done := s.start(t, sb, runtime.ContainerConfig{Name: "done", Command: []string{"true"}})
		s.waitState(t, done, runtime.StateExited)
		_, err := s.rt.Exec(s.ctx(t), done, runtime.ExecOptions{Cmd: []string{"true"}})
		wantErrorIs(t, "Exec in an exited container", err, runtime.ErrContainerNotRunning)
	})
}
