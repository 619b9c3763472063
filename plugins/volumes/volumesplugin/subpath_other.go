//go:build !linux

package volumesplugin

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// PrepareSubPath implements volumes.Volumes: subPath mounts need Linux.
func (p *Plugin) PrepareSubPath(context.Context, volumes.SubPath) (string, error) {
	return "", fmt.Errorf("subPath mounts need Linux: %w", base.ErrUnsupported)
}
