package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
)

// readLog parses a log file into the lines of each stream (partial records
// joined), "|"-separated.
func readLog(t *testing.T, path string) (stdout, stderr string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{}
	pending := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		rec, err := crilog.ParseRecord([]byte(line))
		if err != nil {
			t.Fatalf("log line %.80q: %v", line, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, string(rec.Time)); err != nil {
			t.Errorf("log line %.80q: bad time", line)
		}
		if rec.Stream != crilog.Stdout && rec.Stream != crilog.Stderr {
			t.Errorf("log line %.80q: stream %q", line, rec.Stream)
		}
		pending[rec.Stream] += string(rec.Text)
		if !rec.Partial {
			lines[rec.Stream] = append(lines[rec.Stream], pending[rec.Stream])
			delete(pending, rec.Stream)
		}
	}
	if len(pending) > 0 {
		t.Errorf("partial records without their end: %.80q", pending)
	}
	return strings.Join(lines[crilog.Stdout], "|"), strings.Join(lines[crilog.Stderr], "|")
}

func TestDrive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	readyC := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- drive(crilog.DriverArgs{Path: path}, outR, errR, func() error { close(readyC); return nil }, nil)
	}()
	<-readyC
	outW.Write([]byte("a\nb"))
	errW.Write([]byte("e\n"))
	outW.Close()
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out, errs := readLog(t, path); out != "a|b" || errs != "e" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
}

// With a TTY only stdout is read: nobody ever closes stderr.
func TestDriveTTY(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	errR, _ := io.Pipe()
	err := drive(crilog.DriverArgs{Path: path, TTY: true}, strings.NewReader("prompt$ ls\r\n"), errR, func() error { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out, errs := readLog(t, path); out != "prompt$ ls\r" || errs != "" {
		t.Errorf("stdout %q, stderr %q", out, errs)
	}
}

// A log that cannot be written does not block the container: its output is
// still read, and the failure is reported at the end.
func TestDriveKeepsReadingWhenTheLogFails(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip(err)
	}
	big := bytes.Repeat([]byte("0123456789abcde\n"), 64<<10) // 1 MiB, more than a pipe holds
	done := make(chan error, 1)
	go func() {
		done <- drive(crilog.DriverArgs{Path: "/dev/full"}, bytes.NewReader(big), strings.NewReader(""), func() error { return nil }, nil)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("drive ended with %v, want ENOSPC", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("drive stopped reading")
	}
}

// After the shim's SIGTERM (stop), output that never ends is given up on.
func TestDriveGivesUpAfterStop(t *testing.T) {
	defer func(d time.Duration) { drainTimeout = d }(drainTimeout)
	drainTimeout = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "c.log")
	outR, _ := io.Pipe()
	stop := make(chan struct{})
	close(stop)
	start := time.Now()
	err := drive(crilog.DriverArgs{Path: path}, outR, strings.NewReader(""), func() error { return nil }, stop)
	if err == nil || !strings.Contains(err.Error(), "still open") {
		t.Errorf("drive ended with %v", err)
	}
	if d := time.Since(start); d < drainTimeout {
		t.Errorf("gave up after %v, before the drain timeout", d)
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"-h"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestProcess builds the driver and runs it as the runc shim does (see
// containerd's pkg/process.NewBinaryIO): pipes on fds 3 and 4, a ready pipe
// on fd 5, then, when the task is deleted, EOF and SIGTERM. It reports how
// long the driver takes to be ready and its resident memory, which is paid
// once per running container.
func TestProcess(t *testing.T) {
	plugintest.SkipIfShort(t, "builds the driver; skipped with -short")
	bin := filepath.Join(t.TempDir(), "skiff-log-driver")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	logPath := filepath.Join(t.TempDir(), "c.log")
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	readyR, readyW, _ := os.Pipe()
	args := crilog.DriverArgs{Path: logPath}.Query()
	cmd := exec.Command(bin, crilog.ArgPath, args[crilog.ArgPath], crilog.ArgMarker, args[crilog.ArgMarker])
	cmd.Env = []string{"CONTAINER_ID=c1", "CONTAINER_NAMESPACE=test"}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
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
	startup := time.Since(start)
	outR.Close()
	errR.Close()

	outW.Write([]byte("to stdout\n"))
	errW.Write([]byte("to stderr\n"))
	long := strings.Repeat("x", 3*crilog.MaxRecordText)
	for range 100 {
		outW.Write([]byte(long + "\n"))
	}
	outW.Write([]byte("unterminated"))
	waitForSize(t, logPath, int64(100*len(long)))
	rss, hwm := procKiB(t, cmd.Process.Pid, "VmRSS"), procKiB(t, cmd.Process.Pid, "VmHWM")
	t.Logf("log driver: ready %v after start; VmRSS %d KiB, VmHWM %d KiB after 300 records", startup, rss, hwm)
	// A bound that catches a heavy dependency (the plugin's own binary in
	// this role used about 26 MB), not a target: that is under 3 MB.
	if hwm > 8<<10 {
		t.Errorf("the log driver peaked at %d KiB resident; it runs once per container and must stay small", hwm)
	}

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
	out, errs := readLog(t, logPath)
	want := "to stdout|" + strings.Repeat(long+"|", 100) + "unterminated"
	if out != want || errs != "to stderr" {
		t.Errorf("stdout %.80q (%d bytes), stderr %q", out, len(out), errs)
	}
}

// waitForSize waits until the file holds at least n bytes.
func waitForSize(t *testing.T, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never reached %d bytes", path, n)
}

// procKiB reads a "<field>: N kB" line of /proc/<pid>/status.
func procKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
