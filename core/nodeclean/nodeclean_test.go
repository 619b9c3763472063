package nodeclean

import (
	"slices"
	"testing"
)

func TestMountsUnder(t *testing.T) {
	mountinfo := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/skiff rw shared:2 - tmpfs tmpfs rw
31 30 0:41 / /var/lib/skiff/plugins/volumes/pods/u1/secret rw shared:3 - tmpfs tmpfs rw
32 30 0:4 net:[4026532] /var/lib/skiff/plugins/network/netns/u1 rw shared:4 - nsfs nsfs rw
33 30 0:42 / /var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm rw shared:5 - tmpfs shm rw
34 33 0:43 / /var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm rw shared:6 - tmpfs shm rw
35 22 0:44 / /var/lib/skiff2/x rw shared:7 - tmpfs tmpfs rw
36 30 0:45 / /var/lib/skiff/with\040space rw shared:8 - tmpfs tmpfs rw
`
	got := MountsUnder(mountinfo, "/var/lib/skiff/")
	want := []string{
		"/var/lib/skiff/plugins/volumes/pods/u1/secret",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/plugins/runtime/sandboxes/sb-1/shm",
		"/var/lib/skiff/plugins/network/netns/u1",
		"/var/lib/skiff/with space",
		"/var/lib/skiff",
	}
	if !slices.Equal(got, want) {
		t.Errorf("MountsUnder:\n got %q\nwant %q", got, want)
	}
}
