package rawexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// sandboxRecord is sandbox.json.
type sandboxRecord struct {
	ID        string            `json:"id"`
	PodUID    string            `json:"podUID"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Hostname  string            `json:"hostname,omitempty"`
	NetNSPath string            `json:"netnsPath,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

func (s sandboxRecord) public() runtime.Sandbox {
	return runtime.Sandbox{ID: s.ID, PodUID: s.PodUID, Namespace: s.Namespace, Name: s.Name, NetNSPath: s.NetNSPath, Labels: s.Labels, CreatedAt: s.CreatedAt}
}

// sandboxDir is where a sandbox's record and directory are.
func sandboxDir(dataDir, id string) string { return filepath.Join(dataDir, "sandboxes", id) }

// rootDir is the sandbox's directory, its containers' default working
// directory.
func rootDir(dataDir, id string) string { return filepath.Join(sandboxDir(dataDir, id), "root") }

func (r *Runtime) sandboxes() ([]sandboxRecord, error) {
	dir, err := r.dir()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(dir, "sandboxes"))
	if err != nil {
		return nil, fmt.Errorf("rawexec: %w", err)
	}
	var out []sandboxRecord
	for _, e := range entries {
		var sb sandboxRecord
		if err := readJSON(filepath.Join(dir, "sandboxes", e.Name(), "sandbox.json"), &sb); err != nil {
			continue // being made or removed
		}
		out = append(out, sb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

func (r *Runtime) sandbox(id string) (sandboxRecord, error) {
	dir, err := r.dir()
	if err != nil {
		return sandboxRecord{}, err
	}
	var sb sandboxRecord
	if err := readJSON(filepath.Join(sandboxDir(dir, filepath.Base(id)), "sandbox.json"), &sb); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return sandboxRecord{}, fmt.Errorf("sandbox %q: %w", id, base.ErrNotFound)
		}
		return sandboxRecord{}, fmt.Errorf("sandbox %q: %w", id, err)
	}
	return sb, nil
}

// RunPodSandbox implements runtime.Runtime: it makes the sandbox's
// directory. A second call for the same pod UID returns the same sandbox.
func (r *Runtime) RunPodSandbox(_ context.Context, cfg runtime.SandboxConfig) (string, error) {
	dir, err := r.dir()
	if err != nil {
		return "", err
	}
	r.state.Lock()
	defer r.state.Unlock()
	existing, err := r.sandboxes()
	if err != nil {
		return "", err
	}
	for _, sb := range existing {
		if sb.PodUID == cfg.PodUID {
			return sb.ID, nil
		}
	}
	sb := sandboxRecord{ID: newID(), PodUID: cfg.PodUID, Namespace: cfg.Namespace, Name: cfg.Name, Hostname: cfg.Hostname,
		NetNSPath: cfg.NetNSPath, Labels: cfg.Labels, CreatedAt: time.Now()}
	// The sandbox directory is shared by containers that may run as
	// different users: writable by all, with the sticky bit, like /tmp.
	if err := os.MkdirAll(rootDir(dir, sb.ID), 0o755); err != nil {
		return "", fmt.Errorf("sandbox of pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if err := os.Chmod(sandboxDir(dir, sb.ID), 0o711); err != nil {
		return "", fmt.Errorf("sandbox of pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if err := os.Chmod(rootDir(dir, sb.ID), 0o1777); err != nil {
		return "", fmt.Errorf("sandbox of pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	if err := writeJSON(filepath.Join(sandboxDir(dir, sb.ID), "sandbox.json"), sb); err != nil {
		os.RemoveAll(sandboxDir(dir, sb.ID))
		return "", fmt.Errorf("sandbox of pod %s/%s: %w", cfg.Namespace, cfg.Name, err)
	}
	return sb.ID, nil
}

// StopPodSandbox implements runtime.Runtime: it kills every container of
// the sandbox.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	cs, err := r.containersOf(id)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.StopContainer(ctx, c.ID, 0); err != nil {
			return fmt.Errorf("stop sandbox %s: %w", id, err)
		}
	}
	return nil
}

// RemovePodSandbox implements runtime.Runtime: it kills and removes the
// sandbox's containers and removes its directory.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	dir, err := r.dir()
	if err != nil {
		return err
	}
	cs, err := r.containersOf(id)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("remove sandbox %s: %w", id, err)
		}
	}
	r.state.Lock()
	defer r.state.Unlock()
	if err := os.RemoveAll(sandboxDir(dir, filepath.Base(id))); err != nil {
		return fmt.Errorf("remove sandbox %s: %w", id, err)
	}
	return nil
}

// ListSandboxes implements runtime.Runtime.
func (r *Runtime) ListSandboxes(_ context.Context, labels map[string]string) ([]runtime.Sandbox, error) {
	all, err := r.sandboxes()
	if err != nil {
		return nil, err
	}
	var out []runtime.Sandbox
	for _, sb := range all {
		if hasLabels(sb.Labels, labels) {
			out = append(out, sb.public())
		}
	}
	return out, nil
}

func (r *Runtime) containersOf(sandboxID string) ([]containerRecord, error) {
	all, err := r.containers()
	if err != nil {
		return nil, err
	}
	var out []containerRecord
	for _, c := range all {
		if c.SandboxID == sandboxID {
			out = append(out, c)
		}
	}
	return out, nil
}
