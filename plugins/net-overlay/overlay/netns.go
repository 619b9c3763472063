package overlay

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// createNetNS makes a new network namespace and bind-mounts it on path, a
// file that must not exist yet. The namespace then lives until the file is
// unmounted and the last process in it is gone.
func createNetNS(path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()

	done := make(chan error, 1)
	go func() {
		// This goroutine moves its thread into the new namespace and never
		// unlocks it: when the goroutine returns, the Go runtime ends the
		// thread instead of handing a thread in the wrong namespace to
		// other goroutines.
		runtime.LockOSThread()
		done <- unshareAndMount(path)
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}

func unshareAndMount(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	return nil
}

// isNetNS reports whether path is a mounted network namespace file.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// removeNetNS unmounts and removes a namespace file. A file that is not
// there, or not mounted, is not an error.
func removeNetNS(path string) error {
	// A file mounted more than once (which a crash between two setups could
	// leave) needs as many unmounts; EINVAL means "not a mount point" any
	// more.
	for range 8 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("netns %s: unmount: %w", path, err)
		}
	}
	if err := removeFile(path); err != nil {
		return fmt.Errorf("netns %s: %w", path, err)
	}
	return nil
}
