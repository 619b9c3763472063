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
	"github.com/moby/sys/mountinfo"
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

// MountsUnder lists the mount points at or below dir, deepest first; a
// point mounted over several times comes as many times.
func MountsUnder(dir string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	points := make([]string, 0, len(ms))
	for _, m := range ms {
		points = append(points, m.Mountpoint)
	}
	deepestFirst(points)
	return points, nil
}

// deepestFirst orders mount points so that each comes before the one it
// is mounted below.
func deepestFirst(points []string) {
	sort.SliceStable(points, func(i, j int) bool {
		di, dj := strings.Count(points[i], "/"), strings.Count(points[j], "/")
		if di != dj {
			return di > dj
		}
		return points[i] > points[j]
	})
}

// UnmountUnder detaches every mount at or below dir, deepest first, and
// returns the mount points it unmounted (one entry per unmount).
func UnmountUnder(dir string) ([]string, error) { return unmount(dir, false) }

// UnmountBelow is UnmountUnder without dir itself: a data dir that is a
// mount of its own (a volume given to skiffd) stays mounted, so that
// removing its contents removes them from that volume.
func UnmountBelow(dir string) ([]string, error) { return unmount(dir, true) }

func unmount(dir string, keepDir bool) ([]string, error) {
	points, err := MountsUnder(dir)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, p := range points {
		if keepDir && p == filepath.Clean(dir) {
			continue
		}
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
