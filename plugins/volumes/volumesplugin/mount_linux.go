package volumesplugin

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/moby/sys/mountinfo"
)

// ensureTmpfs mounts a tmpfs on dir unless one is mounted there already.
func ensureTmpfs(dir string, mode os.FileMode, sizeBytes int64) error {
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := fmt.Sprintf("mode=%#o", uint32(mode))
	if sizeBytes > 0 {
		opts += fmt.Sprintf(",size=%d", sizeBytes)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether /proc/self/mountinfo lists dir (cleaned,
// not resolved) as a mount point. Unlike mountinfo.Mounted it does not
// need dir to exist: a missing dir is simply not mounted.
func isMountPoint(dir string) (bool, error) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(filepath.Clean(dir)))
	if err != nil {
		return false, fmt.Errorf("list mounts: %w", err)
	}
	return len(ms) > 0, nil
}

// unmountAll unmounts every mount at or below dir, deepest first, and
// checks none is left.
func unmountAll(dir string) error {
	ms, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := syscall.Unmount(m, 0); err != nil {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	left, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("still mounted after unmounting: %s", strings.Join(left, ", "))
	}
	return nil
}

// mountsUnder lists the mount points at or below dir, deepest first, from
// /proc/self/mountinfo.
func mountsUnder(dir string) ([]string, error) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	// A mount below another sorts after it; reversed, it comes first.
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}
