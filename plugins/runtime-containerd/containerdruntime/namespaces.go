package containerdruntime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"

	"golang.org/x/sys/unix"
)

// Sandbox namespaces.
//
// The containers of a sandbox share its IPC and UTS namespaces, its network
// namespace when the network plugin gave none, and its /dev/shm (so POSIX
// shared memory is shared like SysV IPC, as in a Kubernetes pod: a tmpfs
// under the sandbox's directory, bind-mounted into each). These must
// outlive every container (a pod's containers come and go) and the plugin
// process, so they are not any process's: each is a file under
// <data dir>/sandboxes/<sandbox id>/ on which the namespace is bind-mounted,
// the way `ip netns add` keeps a network namespace. A locked thread makes
// them (unshare), sets the hostname in the UTS one, brings loopback up in
// the network one, mounts them and goes back to its own namespaces;
// containers join them by path. RemovePodSandbox unmounts and deletes the
// files. After a reboot the files are still there but no longer mounted:
// CreateContainer (and RunPodSandbox) make new ones in their place.

// nsKind is one kind of namespace a sandbox keeps.
type nsKind struct {
	name string // file name, as in /proc/<pid>/ns/<name>
	flag uintptr
}

var (
	nsIPC = nsKind{name: "ipc", flag: unix.CLONE_NEWIPC}
	nsUTS = nsKind{name: "uts", flag: unix.CLONE_NEWUTS}
	nsNet = nsKind{name: "net", flag: unix.CLONE_NEWNET}

	allNSKinds = []nsKind{nsIPC, nsUTS, nsNet}
)

// sandboxIDPattern is what sandboxID makes; other IDs are not ours and
// never name a directory.
var sandboxIDPattern = regexp.MustCompile(`^sb-[0-9a-f]{32}$`)

// sandboxDir is where a sandbox's namespace files live.
func sandboxDir(dataDir, id string) string {
	return filepath.Join(dataDir, "sandboxes", id)
}

// nsPaths are the paths of the namespaces a sandbox's containers join, and
// of their /dev/shm.
type nsPaths struct {
	IPC, UTS, Net, Shm string
}

// shmName is the sandbox's /dev/shm directory, and shmSize its size:
// Docker's and containerd CRI's default.
const (
	shmName = "shm"
	shmSize = "65536k"
)

// ownNSKinds are the namespaces the runtime keeps for a sandbox: the
// network one only when the network plugin gave none.
func ownNSKinds(netNSPath string) []nsKind {
	if netNSPath != "" {
		return []nsKind{nsIPC, nsUTS}
	}
	return allNSKinds
}

// sandboxNamespaces returns the paths a sandbox's containers join.
func sandboxNamespaces(dataDir string, sb sandboxInfo) nsPaths {
	dir := sandboxDir(dataDir, sb.ID)
	ns := nsPaths{IPC: filepath.Join(dir, nsIPC.name), UTS: filepath.Join(dir, nsUTS.name), Net: sb.NetNSPath, Shm: filepath.Join(dir, shmName)}
	if ns.Net == "" {
		ns.Net = filepath.Join(dir, nsNet.name)
	}
	return ns
}

// ensureSandboxNamespaces makes sure the sandbox's own namespaces and its
// /dev/shm are mounted, making new ones for those that are not.
func ensureSandboxNamespaces(dataDir string, sb sandboxInfo) error {
	dir := sandboxDir(dataDir, sb.ID)
	if err := ensureNamespaces(dir, sb.hostname(), ownNSKinds(sb.NetNSPath)); err != nil {
		return fmt.Errorf("namespaces of sandbox %q: %w", sb.ID, err)
	}
	if err := ensureShm(filepath.Join(dir, shmName)); err != nil {
		return fmt.Errorf("/dev/shm of sandbox %q: %w", sb.ID, err)
	}
	return nil
}

// ensureShm makes sure a tmpfs is mounted on path.
func ensureShm(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	if isMountPoint(path) {
		return nil
	}
	if err := unix.Mount("shm", path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size="+shmSize); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", path, err)
	}
	return nil
}

// isMountPoint reports whether something is mounted on the directory path
// (from another file system than its parent's, which a tmpfs always is).
func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(path, &st) != nil || unix.Lstat(filepath.Dir(path), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// ensureNamespaces makes sure dir/<kind> is a mounted namespace for every
// kind, making the missing ones together (a new UTS namespace gets
// hostname).
func ensureNamespaces(dir, hostname string, kinds []nsKind) error {
	var missing []nsKind
	for _, k := range kinds {
		if !isNamespaceFile(filepath.Join(dir, k.name)) {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, k := range missing {
		path := filepath.Join(dir, k.name)
		// A stale mount of something else (or of a namespace that is not
		// one) goes first; then the file is the mount point.
		if err := unmountAll(path); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	go func() {
		// The thread is locked while it is in the new namespaces. It goes
		// back to its own before it is unlocked; should that fail, it stays
		// locked and the Go runtime ends it when the goroutine returns.
		// (Ending threads as a habit is not harmless: a child started with
		// Pdeathsig, such as a test's containerd, is killed when the thread
		// that started it ends.)
		goruntime.LockOSThread()
		restored, err := unshareAndMount(dir, hostname, missing)
		if restored {
			goruntime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// unshareAndMount runs on a locked thread: it moves the thread into new
// namespaces of kinds, sets them up, bind-mounts them under dir, and moves
// the thread back, reporting whether that worked.
func unshareAndMount(dir, hostname string, kinds []nsKind) (restored bool, err error) {
	var flags uintptr
	origs := make([]int, 0, len(kinds))
	defer func() {
		for _, fd := range origs {
			unix.Close(fd)
		}
	}()
	for _, k := range kinds {
		flags |= k.flag
		fd, err := unix.Open("/proc/thread-self/ns/"+k.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return true, fmt.Errorf("the thread's %s namespace: %w", k.name, err)
		}
		origs = append(origs, fd)
	}
	if err := unix.Unshare(int(flags)); err != nil {
		return true, fmt.Errorf("unshare: %w", err)
	}
	err = setUpAndMount(dir, hostname, kinds)
	restored = true
	for i, k := range kinds {
		if serr := unix.Setns(origs[i], int(k.flag)); serr != nil {
			restored = false
			if err == nil {
				err = fmt.Errorf("returning to the thread's %s namespace: %w", k.name, serr)
			}
		}
	}
	return restored, err
}

// setUpAndMount runs in the new namespaces: hostname, loopback, then the
// bind mounts (undone if one fails).
func setUpAndMount(dir, hostname string, kinds []nsKind) (err error) {
	for _, k := range kinds {
		switch k {
		case nsUTS:
			if hostname != "" {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("hostname %q: %w", hostname, err)
				}
			}
		case nsNet:
			if err := loopbackUp(); err != nil {
				return fmt.Errorf("loopback: %w", err)
			}
		}
	}
	tid := unix.Gettid()
	var mounted []string
	defer func() {
		if err != nil {
			for _, p := range mounted {
				_ = unmountAll(p)
			}
		}
	}()
	for _, k := range kinds {
		src := fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, k.name)
		dst := filepath.Join(dir, k.name)
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount %s on %s: %w", src, dst, err)
		}
		mounted = append(mounted, dst)
	}
	return nil
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

// isNamespaceFile reports whether path is a mounted namespace.
func isNamespaceFile(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// unmountAll unmounts whatever is mounted on path, as many times as it is
// mounted. A path that is not a mount point, or not there, is fine.
func unmountAll(path string) error {
	for range 16 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after 16 unmounts", path)
}

// removeSandboxNamespaces unmounts and deletes a sandbox's namespace files,
// its /dev/shm and its directory. The namespaces themselves end with their
// last process. A sandbox with nothing left is fine.
func removeSandboxNamespaces(dataDir, id string) error {
	if !sandboxIDPattern.MatchString(id) {
		return nil
	}
	dir := sandboxDir(dataDir, id)
	var errs []error
	for _, name := range []string{nsIPC.name, nsUTS.name, nsNet.name, shmName} {
		if err := unmountAll(filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespaces of sandbox %q: %w", id, err)
	}
	// Nothing is mounted under dir any more, so this deletes only what is
	// on the data dir's file system.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("namespaces of sandbox %q: %w", id, err)
	}
	return nil
}

// TeardownNode unmounts and deletes the namespace files and /dev/shm of
// every sandbox under dataDir (the data dir the plugin was configured with),
// whether or not containerd still knows the sandbox. It is for taking a node
// apart, and for tests, whose temporary data dirs cannot be deleted while
// something is mounted in them. Running containers keep their namespaces,
// but new containers of a sandbox whose files are gone get new ones.
func TeardownNode(dataDir string) error {
	entries, err := os.ReadDir(filepath.Join(dataDir, "sandboxes"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tear down %s: %w", Name, err)
	}
	var errs []error
	for _, e := range entries {
		if err := removeSandboxNamespaces(dataDir, e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tear down %s: %w", Name, err)
	}
	return nil
}
