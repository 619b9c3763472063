package containerdruntime

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseLogDriverArgs(t *testing.T) {
	cfg, ok := parseLogDriverArgs([]string{logArgPath, "/var/log/a b.log", logArgTTY, "true", logArgMarker, logDriverVersion})
	if !ok || cfg.path != "/var/log/a b.log" || !cfg.tty {
		t.Errorf("parsed %+v, %v", cfg, ok)
	}
	for _, args := range [][]string{
		nil,
		{"-test.v"},
		{logArgPath, "/x"},
		{logArgMarker, "2", logArgPath, "/x"},
		{logArgMarker, logDriverVersion, logArgPath},
	} {
		if _, ok := parseLogDriverArgs(args); ok {
			t.Errorf("%q taken for a log-driver invocation", args)
		}
	}
}

func TestLogDriverURI(t *testing.T) {
	io, err := logDriverIO("/usr/bin/plugin", "/logs/a b.log", true)("c1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := io.Config()
	if !cfg.Terminal || cfg.Stdout != cfg.Stderr || !strings.HasPrefix(cfg.Stdout, "binary:///usr/bin/plugin?") {
		t.Errorf("IO config %+v", cfg)
	}
}

// TestLogDriverProcess runs this test binary as a shim would run the log
// driver: pipes on fds 3 and 4, a ready pipe on fd 5, then EOF and SIGTERM.
func TestLogDriverProcess(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "c.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	cmd := exec.Command(os.Args[0], logArgMarker, logDriverVersion, logArgPath, logPath)
	cmd.Env = []string{"CONTAINER_ID=c1", "CONTAINER_NAMESPACE=test"}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	outR.Close()
	errR.Close()
	readyW.Close()
	ready := make(chan error, 1)
	go func() {
		_, err := readyR.Read(make([]byte, 1))
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != io.EOF {
			t.Fatalf("ready pipe: %v, want EOF (closed)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the log driver never signalled ready")
	}

	outW.Write([]byte("to stdout\n"))
	errW.Write([]byte("to stderr\n"))
	outW.Write([]byte("unterminated"))
	// What the shim does when the task is deleted: close, then SIGTERM.
	outW.Close()
	errW.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("log driver exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the log driver did not exit after its input closed")
	}

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		rec, err := parseRecord([]byte(line))
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, string(rec.time)); err != nil || rec.partial {
			t.Errorf("log line %q: bad time or partial", line)
		}
		if rec.stream == streamStdout {
			stdout = append(stdout, string(rec.text))
		} else {
			stderr = append(stderr, string(rec.text))
		}
	}
	if strings.Join(stdout, "|") != "to stdout|unterminated" || strings.Join(stderr, "|") != "to stderr" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
}
