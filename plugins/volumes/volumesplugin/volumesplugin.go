// Package volumesplugin is skiff's volumes plugin.
//
// Every volume of a pod is a directory <DataDir>/pods/<uid>/volumes/<name>:
//
//   - an emptyDir on disk is a plain directory, mode 0777 like the
//     kubelet's (its size limit is not enforced);
//   - an emptyDir with medium Memory is a tmpfs mounted there, sized by its
//     size limit;
//   - a Files volume (configMap, secret) holds its keys as files, with the
//     kubelet's layout so that updates are atomic: the files live in a
//     hidden "..ts-*" directory, "..data" is a symlink to it, and each
//     top-level name is a symlink through "..data". An update writes a new
//     hidden directory and swaps "..data" with one rename. Sensitive data
//     (secrets) is only written to a tmpfs mounted on the volume directory.
//     Preparing it again with the same data costs a readlink: the plugin
//     remembers a digest of what each volume holds.
//   - a hostPath is the node's own path: its type is checked (and the
//     *OrCreate types create it), nothing is made under the pod's
//     directory, and Teardown never touches it.
//   - a subPath mount is a bind mount of what the subPath resolved to, at
//     <DataDir>/pods/<uid>/volume-subpaths/<volume>/<container>/<index>;
//     subpath_linux.go says how the resolution stays inside the volume.
//
// Paths from the manifest are checked before anything is written: an item
// path must be relative, without ".." elements, and must not start with
// ".." (volumes.ErrInvalidPath); a subPath must be relative and without
// ".." elements, and symlinks met while resolving it must stay inside the
// volume.
//
// Teardown unmounts everything mounted under the pod's directory (tmpfs
// volumes and subPath binds), deepest first, and only then removes the
// directory, so a mount that cannot be undone is an error rather than a
// reason to delete through it.
//
// Mounting needs root (CAP_SYS_ADMIN) and Linux.
package volumesplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// MediumMemory is the emptyDir medium backed by tmpfs.
const MediumMemory = "Memory"

// Plugin is the volumes plugin. Its zero value is not usable; call New.
type Plugin struct {
	mu   sync.Mutex
	root string // <DataDir>/pods, "" until Configure
	// written is the payload of each Files volume, by directory.
	written map[string]payload
}

var _ volumes.Volumes = (*Plugin)(nil)

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{written: map[string]payload{}} }

// Info implements base.Plugin.
func (p *Plugin) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindVolumes, Name: "volumes", Version: Version, APIVersion: volumes.APIVersion}, nil
}

// Configure implements base.Plugin: volumes go under cfg.DataDir.
func (p *Plugin) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(nil, cfg.Settings); err != nil {
		return fmt.Errorf("volumes: %w: %w", err, base.ErrInvalid)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("volumes: no data dir: %w", base.ErrInvalid)
	}
	root := filepath.Join(cfg.DataDir, "pods")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fmt.Errorf("volumes: data dir: %w", err)
	}
	// Mount points are compared with the kernel's view: no symlinks.
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("volumes: data dir: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.root = real
	return nil
}

func (p *Plugin) podDir(uid string) (string, error) {
	if p.root == "" {
		return "", fmt.Errorf("volumes: not configured: %w", base.ErrNotConfigured)
	}
	return filepath.Join(p.root, uid), nil
}

// Prepare implements volumes.Volumes. The whole pod is checked before
// anything is written; volumes this call created are removed again if a
// later one fails.
func (p *Plugin) Prepare(ctx context.Context, pod volumes.Pod) ([]volumes.Mounted, error) {
	plans, err := planPod(pod)
	if err != nil {
		return nil, fmt.Errorf("pod %q in %q: %w", pod.Name, pod.Namespace, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	podDir, err := p.podDir(pod.UID)
	if err != nil {
		return nil, err
	}
	out, err := p.prepareAll(ctx, filepath.Join(podDir, "volumes"), plans)
	if err != nil {
		return nil, fmt.Errorf("pod %q in %q: %w", pod.Name, pod.Namespace, err)
	}
	return out, nil
}

func (p *Plugin) prepareAll(ctx context.Context, dir string, plans []plan) (_ []volumes.Mounted, err error) {
	var created []string
	defer func() {
		if err != nil {
			for _, d := range created {
				delete(p.written, d)
				err = errors.Join(err, removeVolume(d))
			}
		}
	}()
	out := make([]volumes.Mounted, 0, len(plans))
	for _, pl := range plans {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if pl.hostPath != nil {
			if err := checkHostPath(*pl.hostPath); err != nil {
				return nil, fmt.Errorf("volume %q: %w", pl.name, err)
			}
			out = append(out, volumes.Mounted{Name: pl.name, HostPath: pl.hostPath.Path})
			continue
		}
		vdir := filepath.Join(dir, pl.name)
		isNew, err := createDir(vdir, pl.dirMode())
		if isNew {
			created = append(created, vdir)
		}
		if err == nil {
			err = pl.prepare(vdir, p.written)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", pl.name, err)
		}
		out = append(out, volumes.Mounted{Name: pl.name, HostPath: vdir})
	}
	return out, nil
}

// createDir makes dir (and its parents) unless it exists, and reports
// whether it did.
func createDir(dir string, mode os.FileMode) (bool, error) {
	if _, err := os.Lstat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return false, err
	}
	if err := os.Mkdir(dir, mode); err != nil {
		return false, err
	}
	// Not subject to the umask.
	return true, os.Chmod(dir, mode)
}

// Teardown implements volumes.Volumes.
func (p *Plugin) Teardown(ctx context.Context, podUID string) error {
	if err := checkName("pod UID", podUID); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	podDir, err := p.podDir(podUID)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for d := range p.written {
		if strings.HasPrefix(d, podDir+"/") {
			delete(p.written, d)
		}
	}
	if err := removeVolume(podDir); err != nil {
		return fmt.Errorf("pod %q: teardown: %w", podUID, err)
	}
	return nil
}

// removeVolume unmounts everything under dir, then removes it. A missing
// dir is not an error.
func removeVolume(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := unmountAll(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
