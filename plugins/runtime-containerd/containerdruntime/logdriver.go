package containerdruntime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/runtime/v2/logging"
)

// The shim runs the log driver as "<binary> k1 v1 k2 v2 ..." from the
// binary:// URI's query, in no particular order, with CONTAINER_ID and
// CONTAINER_NAMESPACE set.
const (
	logArgMarker = "skiff-log-driver" // its presence selects log-driver mode
	logArgPath   = "log-path"
	logArgTTY    = "tty"

	logDriverVersion = "1"
)

// drainTimeout bounds how long the log driver keeps reading after the shim
// asked it to stop (the shim kills it after 12s).
const drainTimeout = 10 * time.Second

// logDriverIO is the task IO: a binary:// URI that has the shim start
// binary as the container's log driver. With a TTY the task gets a terminal,
// whose output the shim hands the driver as stdout.
func logDriverIO(binary, logPath string, tty bool) cio.Creator {
	args := map[string]string{logArgMarker: logDriverVersion, logArgPath: logPath}
	if tty {
		args[logArgTTY] = "true"
	}
	return func(id string) (cio.IO, error) {
		uri, err := cio.LogURIGenerator("binary", binary, args)
		if err != nil {
			return nil, fmt.Errorf("log driver for %q: %w", id, err)
		}
		return &logDriverURI{cfg: cio.Config{Stdout: uri.String(), Stderr: uri.String(), Terminal: tty}}, nil
	}
}

// logDriverURI is a cio.IO with nothing to copy on the plugin's side.
type logDriverURI struct{ cfg cio.Config }

func (l *logDriverURI) Config() cio.Config { return l.cfg }
func (l *logDriverURI) Cancel()            {}
func (l *logDriverURI) Wait()              {}
func (l *logDriverURI) Close() error       { return nil }

// logDriverConfig is what the shim's arguments asked for.
type logDriverConfig struct {
	path string
	tty  bool
}

// parseLogDriverArgs recognizes a log-driver invocation by its arguments.
func parseLogDriverArgs(args []string) (logDriverConfig, bool) {
	if len(args) == 0 || len(args)%2 != 0 {
		return logDriverConfig{}, false
	}
	kv := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		kv[args[i]] = args[i+1]
	}
	if kv[logArgMarker] != logDriverVersion || kv[logArgPath] == "" {
		return logDriverConfig{}, false
	}
	return logDriverConfig{path: kv[logArgPath], tty: kv[logArgTTY] == "true"}, true
}

// RunLoggerIfInvoked turns the process into a container's log driver when a
// shim started it as one, and then never returns. Otherwise it returns at
// once. A plugin's main calls it before anything else.
func RunLoggerIfInvoked() {
	cfg, ok := parseLogDriverArgs(os.Args[1:])
	if !ok || os.Getenv("CONTAINER_ID") == "" {
		return
	}
	logging.Run(func(ctx context.Context, lc *logging.Config, ready func() error) error {
		return runLogDriver(ctx, cfg, lc.Stdout, lc.Stderr, ready)
	})
}

// runLogDriver appends the container's stdout and stderr to the log file
// until both end. When ctx ends (the shim's SIGTERM, sent after it closed the
// pipes) it still drains what is buffered, for up to drainTimeout.
func runLogDriver(ctx context.Context, cfg logDriverConfig, stdout, stderr io.Reader, ready func() error) error {
	f, err := os.OpenFile(cfg.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		ready()
		return fmt.Errorf("log driver: %w", err)
	}
	defer f.Close()
	cw := newCRIWriter(f)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	copyIn := func(i int, stream string, r io.Reader) {
		defer wg.Done()
		errs[i] = cw.copyStream(stream, r)
	}
	wg.Add(1)
	go copyIn(0, streamStdout, stdout)
	if !cfg.tty { // with a TTY, stderr is a pipe nobody writes or closes
		wg.Add(1)
		go copyIn(1, streamStderr, stderr)
	}
	if err := ready(); err != nil {
		return fmt.Errorf("log driver: signalling ready: %w", err)
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		select {
		case <-done:
		case <-time.After(drainTimeout):
			return fmt.Errorf("log driver: %s: output still open %v after the shim closed it", cfg.path, drainTimeout)
		}
	}
	return errors.Join(errs...)
}
