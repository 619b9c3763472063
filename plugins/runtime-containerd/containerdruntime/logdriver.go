package containerdruntime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/cio"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
	"github.com/skiffhq/skiff/sdk/base"
)

// LogDriverName is the file name of the log driver binary
// (plugins/runtime-containerd/logdriver), which the log_driver setting
// looks for beside the plugin's executable by default.
const LogDriverName = "skiff-log-driver"

// defaultLogDriver is LogDriverName beside the running executable (with
// its symlinks resolved, as the kernel reports it), or "" when that is not
// known.
func defaultLogDriver() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(exe), LogDriverName)
}

// checkLogDriver makes sure the shim will be able to run path.
func checkLogDriver(path string) error {
	hint := fmt.Sprintf("the %s binary that `make build` puts beside the plugin", LogDriverName)
	if path == "" {
		return fmt.Errorf("setting %q: empty, and the plugin's own location is unknown: set it to %s: %w", SettingLogDriver, hint, base.ErrInvalid)
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("setting %q: %q: must be an absolute path: %w", SettingLogDriver, path, base.ErrInvalid)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("setting %q: %s does not exist (it should be %s): %w", SettingLogDriver, path, hint, base.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("setting %q: %w: %w", SettingLogDriver, base.ErrInvalid, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("setting %q: %s is not an executable file (mode %s): %w", SettingLogDriver, path, fi.Mode(), base.ErrInvalid)
	}
	return nil
}

// logDriverIO is the task IO: a binary:// URI that has the shim start the
// log driver for the container. With a TTY the task gets a terminal, whose
// output the shim hands the driver as stdout.
func logDriverIO(driver, logPath string, tty bool) cio.Creator {
	args := crilog.DriverArgs{Path: logPath, TTY: tty}.Query()
	return func(id string) (cio.IO, error) {
		uri, err := cio.LogURIGenerator("binary", driver, args)
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
