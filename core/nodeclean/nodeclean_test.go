package nodeclean

import (
	"slices"
	"testing"
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
