//go:build !linux

package conformance

import "testing"

func wantTmpfs(t *testing.T, path string) {
	t.Helper()
	t.Skip("tmpfs checks need Linux")
}

func mountsUnder(string) []string { return nil }

func unmount(string) error { return nil }
