package nodeclean

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// Deepest first: a mount comes before the one it is mounted below, and a
// point mounted twice stays twice.
func TestDeepestFirst(t *testing.T) {
	got := []string{
		"/var/lib/skiff",
		"/var/lib/skiff/plugins/volumes/pods/u1/secret",
		"/var/lib/skiff/plugins/network/netns/u1",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/with space",
	}
	deepestFirst(got)
	want := []string{
		"/var/lib/skiff/plugins/volumes/pods/u1/secret",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/plugins/network/netns/u1",
		"/var/lib/skiff/with space",
		"/var/lib/skiff",
	}
	if !slices.Equal(got, want) {
		t.Errorf("deepestFirst:\n got %q\nwant %q", got, want)
	}
}

// UnmountBelow leaves a mounted dir mounted and unmounts what is below
// it; UnmountUnder unmounts both. Real tmpfs mounts (root).
func TestUnmountBelowKeepsTheDirItself(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root (mounts tmpfs)")
		}
		t.Skip("needs root (mounts tmpfs)")
	}
	dir := filepath.Join(t.TempDir(), "data dir") // a space: mountinfo escapes it
	inner := filepath.Join(dir, "pods", "secret")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = UnmountUnder(dir) })
	if err := os.MkdirAll(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", inner, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := MountsUnder(dir); err != nil || !slices.Equal(got, []string{inner, dir}) {
		t.Fatalf("MountsUnder = %q, %v; want [%s %s]", got, err, inner, dir)
	}
	if done, err := UnmountBelow(dir); err != nil || !slices.Equal(done, []string{inner}) {
		t.Fatalf("UnmountBelow = %q, %v; want [%s]", done, err, inner)
	}
	if got, _ := MountsUnder(dir); !slices.Equal(got, []string{dir}) {
		t.Fatalf("after UnmountBelow: mounted %q, want only the dir", got)
	}
	if done, err := UnmountUnder(dir); err != nil || !slices.Equal(done, []string{dir}) {
		t.Fatalf("UnmountUnder = %q, %v; want [%s]", done, err, dir)
	}
}
