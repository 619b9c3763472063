package volumesplugin

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
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

func isMountPoint(dir string) (bool, error) {
	ms, err := mountsUnder(dir)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m == filepath.Clean(dir) {
			return true, nil
		}
	}
	return false, nil
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
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Field 5 is the mount point.
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeOctal(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	// A mount below another sorts after it; reversed, it comes first.
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out, nil
}

// unescapeOctal undoes mountinfo's escapes: "\040" is a space.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
