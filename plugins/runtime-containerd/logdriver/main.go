// Command skiff-log-driver is the log driver of skiff's containerd runtime
// plugin: the runc shim runs one per running container, through the
// "binary://" log URI the plugin gives the container's task, and it appends
// the container's output to its log file in the CRI format (see package
// crilog and the Logs section of package containerdruntime).
//
// It speaks containerd's runtime/v2/logging protocol: the container's
// stdout and stderr pipes are fds 3 and 4; closing fd 5 tells the shim it is
// ready, after which the shim starts the container. When the task is
// deleted the shim closes the pipes and sends SIGTERM: the driver writes
// what is left and exits (the shim kills it 12 s after SIGTERM).
//
// There is one of these per container, so it is kept small on purpose: it
// imports only the standard library and crilog, which imports only the
// standard library too; no containerd client, no gRPC.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
)

// The file descriptors of the protocol.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// drainTimeout bounds how long the driver keeps reading after the shim
// asked it to stop (SIGTERM, after closing the pipes).
var drainTimeout = 10 * time.Second // a variable for tests

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is the driver; stderr is for what goes wrong (the shim sends the
// driver's stderr to /dev/null, but a person running it sees it).
func run(args []string, stderr io.Writer) int {
	a, err := crilog.ParseDriverArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "skiff-log-driver: %v\n"+
			"usage: skiff-log-driver %s %s %s PATH [%s true]\n"+
			"with a container's stdout and stderr on fds 3 and 4 and a ready pipe on fd 5 (containerd's binary:// log protocol)\n",
			err, crilog.ArgMarker, crilog.DriverVersion, crilog.ArgPath, crilog.ArgTTY)
		return 2
	}
	files := make([]*os.File, 0, 3)
	for _, fd := range []int{fdStdout, fdStderr, fdReady} {
		f, err := inherited(fd)
		if err != nil {
			fmt.Fprintf(stderr, "skiff-log-driver: %v (not started by a containerd shim?)\n", err)
			return 2
		}
		files = append(files, f)
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	stop := make(chan struct{})
	go func() {
		<-term
		close(stop)
	}()
	if err := drive(a, files[0], files[1], files[2].Close, stop); err != nil {
		fmt.Fprintf(stderr, "skiff-log-driver: %s: %v\n", a.Path, err)
		return 1
	}
	return 0
}

// inherited returns the pipe the shim passed as fd. The read ends are made
// non-blocking so that they go through the runtime's poller instead of
// holding a thread each.
func inherited(fd int) (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fd %d: %w", fd, err)
	}
	if fd != fdReady && st.Mode&syscall.S_IFMT == syscall.S_IFIFO {
		if err := syscall.SetNonblock(fd, true); err != nil {
			return nil, fmt.Errorf("fd %d: %w", fd, err)
		}
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", fd)), nil
}

// drive appends the container's stdout and stderr to the log file until
// both end, calling ready once it reads them. Once stop is closed it still
// drains what is left, for up to drainTimeout.
//
// A failed write of the log does not stop the reading: the container would
// block on a full pipe. The driver keeps reading and trying to write (a full
// disk may get space again) and reports the first failure at the end.
func drive(a crilog.DriverArgs, stdout, stderr io.Reader, ready func() error, stop <-chan struct{}) error {
	f, err := os.OpenFile(a.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		// The shim starts the container once the ready pipe closes, which
		// exiting does anyway.
		ready()
		return err
	}
	defer f.Close()
	fw := &firstError{w: f}
	cw := crilog.NewWriter(fw)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	copyIn := func(i int, stream string, r io.Reader) {
		defer wg.Done()
		errs[i] = cw.CopyStream(stream, r)
	}
	wg.Add(1)
	go copyIn(0, crilog.Stdout, stdout)
	if !a.TTY { // with a TTY, stderr is a pipe nobody writes to
		wg.Add(1)
		go copyIn(1, crilog.Stderr, stderr)
	}
	if err := ready(); err != nil {
		return fmt.Errorf("signalling ready: %w", err)
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-stop:
		timer := time.NewTimer(drainTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			return fmt.Errorf("output still open %v after the shim closed it", drainTimeout)
		}
	}
	return errors.Join(append(errs, fw.err())...)
}

// firstError writes to w, remembers the first error and hides every error
// from the caller.
type firstError struct {
	w     io.Writer
	mu    sync.Mutex
	first error
}

func (e *firstError) Write(p []byte) (int, error) {
	if _, err := e.w.Write(p); err != nil {
		e.mu.Lock()
		if e.first == nil {
			e.first = fmt.Errorf("writing the log: %w", err)
		}
		e.mu.Unlock()
	}
	return len(p), nil
}

func (e *firstError) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}
