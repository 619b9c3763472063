// Package nodeclean removes what a node leaves on its host once its agent
// is gone: the containers of its containerd namespace, the shims of a
// containerd that was stopped, and the mounts under a directory. It is
// shared by `skiffctl cluster delete` (core/cluster) and `skiffd reset`
// (core/daemon).
package nodeclean

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"golang.org/x/sys/unix"
)

// RemoveContainers kills and deletes every task and container in the
// containerd namespace ns, with their snapshots, and returns the IDs of the
// containers it deleted. Pod sandboxes are containers too, so they go with
// them. With images it also deletes the namespace's images and then tries
// to delete the namespace (which fails, silently, while content or
// snapshots remain to be garbage collected).
func RemoveContainers(ctx context.Context, c *containerd.Client, ns string, images bool) ([]string, error) {
	nctx := namespaces.WithNamespace(ctx, ns)
	ctrs, err := c.Containers(nctx)
	if err != nil {
		return nil, fmt.Errorf("containerd namespace %q: %w", ns, err)
	}
	var removed []string
	var errs []error
	for _, ctr := range ctrs {
		if task, err := ctr.Task(nctx, nil); err == nil {
			if _, err := task.Delete(nctx, containerd.WithProcessKill); err != nil {
				errs = append(errs, fmt.Errorf("task of container %q in %q: %w", ctr.ID(), ns, err))
			}
		}
		if err := ctr.Delete(nctx, containerd.WithSnapshotCleanup); err != nil {
			errs = append(errs, fmt.Errorf("container %q in %q: %w", ctr.ID(), ns, err))
			continue
		}
		removed = append(removed, ctr.ID())
	}
	if images {
		if imgs, err := c.ImageService().List(nctx); err == nil {
			for _, img := range imgs {
				_ = c.ImageService().Delete(nctx, img.Name)
			}
		}
		_ = c.NamespaceService().Delete(nctx, ns)
	}
	return removed, errors.Join(errs...)
}

// KillShims SIGKILLs the containerd shims that still serve the containerd
// at socket (shims outlive their containerd by design), found by their
// command line, and returns their PIDs. Call it only for a containerd that
// is stopped for good.
func KillShims(socket string) []int {
	var killed []int
	entries, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		if len(args) == 0 || !strings.Contains(args[0], "containerd-shim") {
			continue
		}
		match := false
		for _, a := range args {
			if a == socket {
				match = true
			}
		}
		if !match {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e))); err == nil {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = append(killed, pid)
			}
		}
	}
	return killed
}

// MountsUnder lists the mount points at or below dir in mountinfo (the
// contents of /proc/self/mountinfo), deepest first; a point mounted over
// several times comes as many times.
func MountsUnder(mountinfo, dir string) []string {
	dir = filepath.Clean(dir)
	var points []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) <= 4 {
			continue
		}
		p := unescapeMountPath(f[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.SliceStable(points, func(i, j int) bool {
		di, dj := strings.Count(points[i], "/"), strings.Count(points[j], "/")
		if di != dj {
			return di > dj
		}
		return points[i] > points[j]
	})
	return points
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// UnmountUnder detaches every mount at or below dir, deepest first, and
// returns the mount points it unmounted (one entry per unmount).
func UnmountUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var done []string
	var errs []error
	for _, p := range MountsUnder(string(data), dir) {
		err := unix.Unmount(p, unix.MNT_DETACH)
		switch {
		case err == nil:
			done = append(done, p)
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			// Gone with a parent's detach, or not a mount any more.
		default:
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return done, errors.Join(errs...)
}
