package volumesplugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Kubernetes' HostPathType values.
const (
	hostPathUnset             = ""
	hostPathDirectoryOrCreate = "DirectoryOrCreate"
	hostPathDirectory         = "Directory"
	hostPathFileOrCreate      = "FileOrCreate"
	hostPathFile              = "File"
	hostPathSocket            = "Socket"
	hostPathCharDev           = "CharDevice"
	hostPathBlockDev          = "BlockDevice"
)

func planHostPath(name string, h volumes.HostPath) (plan, error) {
	if !path.IsAbs(h.Path) {
		return plan{}, fmt.Errorf("host path %q: not absolute: %w", h.Path, volumes.ErrInvalidPath)
	}
	for _, elem := range strings.Split(h.Path, "/") {
		if elem == ".." {
			return plan{}, fmt.Errorf("host path %q: contains \"..\": %w", h.Path, volumes.ErrInvalidPath)
		}
	}
	switch h.Type {
	case hostPathUnset, hostPathDirectoryOrCreate, hostPathDirectory, hostPathFileOrCreate, hostPathFile,
		hostPathSocket, hostPathCharDev, hostPathBlockDev:
	default:
		return plan{}, fmt.Errorf("host path type %q: not supported: %w", h.Type, base.ErrInvalid)
	}
	h.Path = path.Clean(h.Path)
	return plan{name: name, hostPath: &h}, nil
}

// checkHostPath makes what the *OrCreate types ask for and checks the
// type, as the kubelet does (following symlinks).
func checkHostPath(h volumes.HostPath) error {
	fi, err := os.Stat(h.Path)
	if errors.Is(err, fs.ErrNotExist) {
		switch h.Type {
		case hostPathUnset:
			return nil // Kubernetes makes no check: the runtime creates a directory
		case hostPathDirectoryOrCreate:
			if err := os.MkdirAll(h.Path, 0o755); err != nil {
				return fmt.Errorf("host path %s: %w", h.Path, err)
			}
		case hostPathFileOrCreate:
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("host path %s: %w", h.Path, err)
			}
			f.Close()
		default:
			return fmt.Errorf("%w: %s does not exist", volumes.ErrHostPathType, h.Path)
		}
		fi, err = os.Stat(h.Path)
	}
	if err != nil {
		return fmt.Errorf("host path %s: %w", h.Path, err)
	}
	m := fi.Mode()
	var ok bool
	var want string
	switch h.Type {
	case hostPathUnset:
		return nil
	case hostPathDirectoryOrCreate, hostPathDirectory:
		ok, want = m.IsDir(), "a directory"
	case hostPathFileOrCreate, hostPathFile:
		ok, want = m.IsRegular(), "a file"
	case hostPathSocket:
		ok, want = m&fs.ModeSocket != 0, "a socket"
	case hostPathCharDev:
		ok, want = m&fs.ModeCharDevice != 0, "a character device"
	case hostPathBlockDev:
		ok, want = m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0, "a block device"
	}
	if !ok {
		return fmt.Errorf("%w: %s is not %s", volumes.ErrHostPathType, h.Path, want)
	}
	return nil
}
