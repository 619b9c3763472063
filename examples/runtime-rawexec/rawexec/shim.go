package rawexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// shimArg is argv[1] of a shim process.
const shimArg = "rawexec-shim"

// RunShimIfInvoked runs the container shim and exits when the process was
// started as one (`<binary> rawexec-shim <dir>`); otherwise it returns at
// once. Call it first thing in main (and in TestMain of tests that run the
// runtime in process, since the shim binary is then the test binary).
func RunShimIfInvoked() {
	if len(os.Args) == 3 && os.Args[1] == shimArg {
		os.Exit(runShim(os.Args[2]))
	}
}

// runShim starts the container of cdir, reports on file descriptor 3, logs
// its output and records its exit.
func runShim(cdir string) int {
	// The report pipe must not leak into the container, which would keep
	// it open (and StartContainer waiting) for as long as it runs.
	syscall.CloseOnExec(3)
	ready := os.NewFile(3, "ready")
	fail := func(err error) int {
		fmt.Fprintf(ready, "error: %v\n", err)
		ready.Close()
		_ = writeJSON(filepath.Join(cdir, "exit.json"), exitRecord{ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: time.Now()})
		return 1
	}
	var c containerRecord
	if err := readJSON(filepath.Join(cdir, "container.json"), &c); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(filepath.Dir(c.LogPath), 0o755); err != nil {
		return fail(fmt.Errorf("log directory: %w", err))
	}
	logFile, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fail(fmt.Errorf("log file: %w", err))
	}
	defer logFile.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	// exec.LookPath searches this process's PATH: make it the container's.
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			os.Setenv("PATH", v)
		}
	}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.UID != nil || c.GID != nil {
		cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
		if c.UID != nil {
			cred.Uid = *c.UID
		}
		if c.GID != nil {
			cred.Gid = *c.GID
		}
		cmd.SysProcAttr.Credential = cred
	}
	if c.NetNS != "" {
		// This thread joins the pod's network namespace for good (the
		// shim does nothing else that cares), and the process is forked
		// from it.
		goruntime.LockOSThread()
		if err := setns(c.NetNS); err != nil {
			return fail(fmt.Errorf("join network namespace %s: %w", c.NetNS, err))
		}
	}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	outW.Close()
	errW.Close()
	self, _ := procStartTime(os.Getpid())
	start, _ := procStartTime(cmd.Process.Pid)
	started := startedRecord{PID: cmd.Process.Pid, StartTime: start, ShimPID: os.Getpid(), ShimStartTime: self, StartedAt: time.Now()}
	if err := writeJSON(filepath.Join(cdir, "started.json"), started); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return fail(err)
	}
	fmt.Fprintln(ready, "ok")
	ready.Close()

	w := &criWriter{w: logFile}
	var copying sync.WaitGroup
	for _, s := range []struct {
		r    *os.File
		name string
	}{{outR, "stdout"}, {errR, "stderr"}} {
		copying.Add(1)
		go func() {
			defer copying.Done()
			w.copy(s.r, s.name)
		}()
	}
	err = cmd.Wait()
	// The container's "PID 1" ended: what is left of its process group
	// goes with it.
	_ = syscall.Kill(-started.PID, syscall.SIGKILL)
	done := make(chan struct{})
	go func() { copying.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second): // a daemonized child holds the pipe
	}
	ex := exitRecord{FinishedAt: time.Now(), Reason: "Completed"}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		ex.ExitCode, ex.Reason = exitErr.ExitCode(), "Error"
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.ExitCode = 128 + int(ws.Signal())
			ex.Message = "killed by " + ws.Signal().String()
		}
	default:
		ex.ExitCode, ex.Reason, ex.Message = 255, "Error", err.Error()
	}
	if err := writeJSON(filepath.Join(cdir, "exit.json"), ex); err != nil {
		fmt.Fprintln(os.Stderr, "rawexec shim: record exit:", err)
		return 1
	}
	return 0
}

// maxRecord is the longest CRI log record; longer lines are split into
// partial ("P") records, as containerd does.
const maxRecord = 16 << 10

// criWriter writes CRI log records: "<RFC3339Nano> <stream> <F|P> <text>".
type criWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (cw *criWriter) record(stream string, partial bool, text []byte) {
	tag := "F"
	if partial {
		tag = "P"
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	line := make([]byte, 0, len(text)+64)
	line = time.Now().UTC().AppendFormat(line, time.RFC3339Nano)
	line = append(line, ' ')
	line = append(line, stream...)
	line = append(line, ' ')
	line = append(line, tag...)
	line = append(line, ' ')
	line = append(line, text...)
	line = append(line, '\n')
	_, _ = cw.w.Write(line)
}

// copy reads one stream to its end, one record per line.
func (cw *criWriter) copy(r io.Reader, stream string) {
	br := bufio.NewReaderSize(r, maxRecord)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			cw.record(stream, isPrefix, line)
		}
		if err != nil {
			return
		}
	}
}

// procStartTime is a process's start time in clock ticks since boot.
func procStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// alive reports whether pid runs (not a zombie) and is the process that
// started at startTime.
func alive(pid int, startTime uint64) bool {
	if pid <= 0 {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	fields := strings.Fields(s[end+1:])
	if len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return false
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	return err == nil && (startTime == 0 || st == startTime)
}

// setns moves the calling thread into the network namespace at path. The
// caller has locked the goroutine to its thread.
func setns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

// inNetNS runs fn on a thread in the network namespace at path (fn alone
// when path is ""). The thread goes back to its namespace afterwards; if
// that fails it stays locked and the Go runtime ends it.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := setns(path); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("join network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			goruntime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
