package volumesplugin

// subPath mounts.
//
// A subPath names something inside a volume that containers may have
// written to (an emptyDir, a hostPath): it may hold symlinks, and a
// container may swap a directory for a symlink at any moment. Resolving
// the path with the kernel and then mounting the path string would follow
// whatever is there at mount time, so instead:
//
//  1. the path is walked one element at a time from an O_PATH descriptor
//     of the volume's root, each element opened with O_NOFOLLOW relative
//     to its parent's descriptor;
//  2. a symlink met on the way is read (never followed by the kernel) and
//     its target is walked the same way: a relative target stays inside
//     the volume, ".." never goes above the volume's root and an absolute
//     target is refused, since it points outside the volume;
//  3. the descriptor of the last element is bind-mounted through
//     /proc/self/fd/N, so what is mounted is exactly the inode resolved,
//     whatever happened to the path in between.
//
// The mount goes to <pod dir>/volume-subpaths/<volume>/<container>/<index>,
// a directory no container can write to, and Teardown unmounts it with
// the rest of the pod.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// maxSymlinks bounds the symlinks followed in one subPath, as the kernel's
// ELOOP limit does.
const maxSymlinks = 40

// PrepareSubPath implements volumes.Volumes.
func (p *Plugin) PrepareSubPath(ctx context.Context, sp volumes.SubPath) (string, error) {
	for _, n := range []struct{ what, name string }{{"pod UID", sp.PodUID}, {"volume name", sp.Volume}, {"container name", sp.Container}} {
		if err := checkName(n.what, n.name); err != nil {
			return "", err
		}
	}
	if sp.Index < 0 {
		return "", fmt.Errorf("mount index %d: negative: %w", sp.Index, base.ErrInvalid)
	}
	rel, err := checkSubPath(sp.Path)
	if err != nil {
		return "", err
	}
	volDir := filepath.Clean(sp.HostPath)
	if !filepath.IsAbs(volDir) {
		return "", fmt.Errorf("volume %q: host path %q: not absolute: %w", sp.Volume, sp.HostPath, base.ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	podDir, err := p.podDir(sp.PodUID)
	if err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	// The volume is this pod's own (its directory here) or a host path;
	// never another pod's volume or anything else this plugin keeps.
	own := volDir == filepath.Join(podDir, "volumes", sp.Volume)
	if !own && (volDir == p.root || strings.HasPrefix(volDir, p.root+"/")) {
		return "", fmt.Errorf("volume %q: host path %s is not a volume of pod %q: %w", sp.Volume, volDir, sp.PodUID, volumes.ErrInvalidPath)
	}
	// A Files volume (configMap, secret) is written by this plugin only:
	// a missing subPath there is an error, not a directory to make.
	fi, err := os.Lstat(filepath.Join(volDir, dataLink))
	files := own && err == nil && fi.Mode()&os.ModeSymlink != 0

	target := filepath.Join(podDir, "volume-subpaths", sp.Volume, sp.Container, strconv.Itoa(sp.Index))
	mounted, err := isMountPoint(target)
	if err != nil {
		return "", err
	}
	if mounted {
		return target, nil // as Kubernetes: not resolved again
	}
	fd, err := openBeneath(volDir, rel, !files)
	if err != nil {
		return "", fmt.Errorf("volume %q: subPath %q: %w", sp.Volume, sp.Path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("volume %q: subPath %q: %w", sp.Volume, sp.Path, err)
	}
	if err := makeMountTarget(target, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return "", fmt.Errorf("volume %q: subPath %q: %w", sp.Volume, sp.Path, err)
	}
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), target, "", unix.MS_BIND, ""); err != nil {
		return "", fmt.Errorf("volume %q: subPath %q: bind to %s: %w", sp.Volume, sp.Path, target, err)
	}
	return target, nil
}

// checkSubPath returns the cleaned subPath, or why it cannot be used: it
// must be relative and without ".." elements (the server checked this
// too).
func checkSubPath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("subPath is empty: %w", volumes.ErrInvalidPath)
	case path.IsAbs(p):
		return "", fmt.Errorf("subPath %q: absolute: %w", p, volumes.ErrInvalidPath)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("subPath %q: contains \"..\": %w", p, volumes.ErrInvalidPath)
		}
	}
	return path.Clean(p), nil
}

// openBeneath opens rel below the directory root without leaving it, and
// returns an O_PATH descriptor of what it names. Symlinks are followed by
// hand, inside root only. With create, missing directories are made with
// the mode of root, as the kubelet makes subPath directories.
func openBeneath(root, rel string, create bool) (_ int, err error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open volume %s: %w", root, err)
	}
	var rootStat unix.Stat_t
	if err := unix.Fstat(rootFD, &rootStat); err != nil {
		unix.Close(rootFD)
		return -1, err
	}
	// stack holds the descriptors of the directories walked, root first:
	// ".." pops one, which keeps the walk inside root.
	stack := []int{rootFD}
	defer func() {
		last := len(stack) - 1
		for i, fd := range stack {
			if err != nil || i != last {
				unix.Close(fd)
			}
		}
	}()
	todo := strings.Split(rel, "/")
	links := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				return -1, fmt.Errorf("a symlink leads above the volume: %w", volumes.ErrInvalidPath)
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			continue
		}
		parent := stack[len(stack)-1]
		var st unix.Stat_t
		if err := unix.Fstat(parent, &st); err != nil {
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return -1, fmt.Errorf("%q: not a directory: %w", elem, base.ErrInvalid)
		}
		fd, err := unix.Openat(parent, elem, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err := mkdirBeneath(parent, elem, os.FileMode(rootStat.Mode&0o777)); err != nil {
				return -1, err
			}
			fd, err = unix.Openat(parent, elem, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if errors.Is(err, unix.ENOENT) {
			return -1, fmt.Errorf("%q does not exist: %w", elem, base.ErrNotFound)
		}
		if err != nil {
			return -1, fmt.Errorf("open %q: %w", elem, err)
		}
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			stack = append(stack, fd)
			continue
		}
		target, err := readlinkFD(fd)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("read symlink %q: %w", elem, err)
		}
		if links++; links > maxSymlinks {
			return -1, fmt.Errorf("too many symlinks: %w", volumes.ErrInvalidPath)
		}
		if path.IsAbs(target) {
			return -1, fmt.Errorf("symlink %q points outside the volume (to %s): %w", elem, target, volumes.ErrInvalidPath)
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	if len(stack) == 1 {
		// The subPath is the volume itself: hand out a descriptor of our own.
		fd, err := unix.Openat(rootFD, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		stack = append(stack, fd)
	}
	return stack[len(stack)-1], nil
}

// mkdirBeneath makes name in the directory parent (an O_PATH descriptor)
// with mode, not subject to the umask.
func mkdirBeneath(parent int, name string, mode os.FileMode) error {
	if err := unix.Mkdirat(parent, name, 0o700); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil // made meanwhile: the caller opens it without following
		}
		return fmt.Errorf("make %q: %w", name, err)
	}
	fd, err := unix.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, uint32(mode)); err != nil {
		return fmt.Errorf("chmod %q: %w", name, err)
	}
	return nil
}

// readlinkFD reads the symlink an O_PATH|O_NOFOLLOW descriptor opened.
func readlinkFD(fd int) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// makeMountTarget makes the file or directory a subPath is mounted on.
func makeMountTarget(target string, dir bool) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	fi, err := os.Lstat(target)
	switch {
	case err == nil && fi.IsDir() == dir && (dir || fi.Mode().IsRegular()):
		return nil
	case err == nil:
		if err := os.Remove(target); err != nil { // left by an earlier, different subPath
			return err
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if dir {
		return os.Mkdir(target, 0o750)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}
