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
		// The thread is locked while it is in the new namespace and goes
		// back to its own before it is unlocked. Should that fail, it stays
		// locked, and the Go runtime ends it. (Ending threads as a habit
		// would kill children started with Pdeathsig from them, such as a
		// test's containerd.)
		goruntime.LockOSThread()
		restored, err := makeNetNS(path)
		if restored {
			goruntime.UnlockOSThread()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("netns %s: %v", path, err)
	}
	return path
}

// makeNetNS runs on a locked thread: it unshares a network namespace, sets
// its loopback up, bind-mounts it on path and returns the thread to its own
// namespace, reporting whether that worked.
func makeNetNS(path string) (restored bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, err
	}
	defer unix.Close(orig)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("unshare: %w (the suite needs root for this test)", err)
	}
	err = loopbackUp()
	if err == nil {
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		err = unix.Mount(self, path, "none", unix.MS_BIND, "")
	}
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		return false, fmt.Errorf("returning to the thread's network namespace: %w", serr)
	}
	return true, err
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
