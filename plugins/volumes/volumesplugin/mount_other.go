//go:build !linux

package volumesplugin

import (
	"fmt"
	"os"

	"github.com/skiffhq/skiff/sdk/base"
)

func ensureTmpfs(dir string, _ os.FileMode, _ int64) error {
	return fmt.Errorf("tmpfs on %s: needs Linux: %w", dir, base.ErrUnsupported)
}

// unmountAll has nothing to do where this plugin cannot mount.
func unmountAll(string) error { return nil }
