package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// netns makes a network namespace the way a network plugin hands one to
// RunPodSandbox: a bind-mounted namespace file, with loopback up and nothing
// else. It is unmounted and deleted when the test ends, after the sandboxes
// made later in the test are removed.
func (s *suite) netns(t *testing.T) string {
	t.Helper()
	path := filepath.Join(s.opts.TempDir, s.name("netns"))
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			t.Errorf("cleanup: unmount netns %s: %v", path, err)
		}
		if err := os.Remove(path); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	done := make(chan error, 1)
	go func() {
		// The thread moves into the new namespace and is never unlocked,
		// so the Go runtime ends it instead of reusing it.
		goruntime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w (the suite needs root for this test)", err)
			}
			if err := loopbackUp(); err != nil {
				return fmt.Errorf("loopback up: %w", err)
			}
			self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
			return unix.Mount(self, path, "none", unix.MS_BIND, "")
		}()
	}()
	if err := <-done; err != nil {
		t.Fatalf("netns %s: %v", path, err)
	}
	return path
}

// loopbackUp sets "lo" up in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// nsInode is the "net:[<inode>]" that readlink /proc/self/ns/net prints in
// a process of the namespace bound at path.
func nsInode(t *testing.T, kind, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:[%d]", kind, fi.Sys().(*syscall.Stat_t).Ino)
}
