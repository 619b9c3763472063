package conformance

import (
	"path/filepath"
	"sort"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
)

const tmpfsMagic = 0x01021994

func wantTmpfs(t *testing.T, path string) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatalf("statfs %s: %v", path, err)
	}
	if st.Type != tmpfsMagic {
		t.Fatalf("%s is on a filesystem of type %#x, want tmpfs", path, st.Type)
	}
}

// mountsUnder lists the mount points at or below path, deepest first.
func mountsUnder(path string) []string {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(path)))
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

func unmount(path string) error {
	return syscall.Unmount(path, syscall.MNT_DETACH)
}
