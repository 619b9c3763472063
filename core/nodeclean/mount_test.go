package nodeclean_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/core/nodeclean"
	"github.com/skiffhq/skiff/test/testenv"
)

// UnmountBelow leaves a mounted dir mounted and unmounts what is below
// it; UnmountUnder unmounts both. Real tmpfs mounts (root).
func TestUnmountBelowKeepsTheDirItself(t *testing.T) {
	testenv.RequireRoot(t)                        // mounts tmpfs; fails instead of skipping in CI
	dir := filepath.Join(t.TempDir(), "data dir") // a space: mountinfo escapes it
	inner := filepath.Join(dir, "pods", "secret")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = nodeclean.UnmountUnder(dir) })
	if err := os.MkdirAll(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", inner, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := nodeclean.MountsUnder(dir); err != nil || !slices.Equal(got, []string{inner, dir}) {
		t.Fatalf("MountsUnder = %q, %v; want [%s %s]", got, err, inner, dir)
	}
	if done, err := nodeclean.UnmountBelow(dir); err != nil || !slices.Equal(done, []string{inner}) {
		t.Fatalf("UnmountBelow = %q, %v; want [%s]", done, err, inner)
	}
	if got, _ := nodeclean.MountsUnder(dir); !slices.Equal(got, []string{dir}) {
		t.Fatalf("after UnmountBelow: mounted %q, want only the dir", got)
	}
	if done, err := nodeclean.UnmountUnder(dir); err != nil || !slices.Equal(done, []string{dir}) {
		t.Fatalf("UnmountUnder = %q, %v; want [%s]", done, err, dir)
	}
}
