package containerdruntime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// sandboxID is the sandbox ID of a pod: the same UID always gives the same
// ID, which makes RunPodSandbox idempotent without a lookup.
func sandboxID(podUID string) string {
	sum := sha256.Sum256([]byte("skiff-sandbox/" + podUID))
	return "sb-" + hex.EncodeToString(sum[:16])
}

// RunPodSandbox records the pod's sandbox, or returns the existing one.
func (r *Runtime) RunPodSandbox(ctx context.Context, cfg runtime.SandboxConfig) (string, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("sandbox of pod %q (uid %q)", cfg.Namespace+"/"+cfg.Name, cfg.PodUID)
	if cfg.PodUID == "" {
		return "", fmt.Errorf("%s: empty pod UID: %w", what, base.ErrInvalid)
	}
	if err := checkUserLabels(cfg.Labels); err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	id := sandboxID(cfg.PodUID)
	unlock := r.locks.lock(id)
	defer unlock()
	labels := withLabels(cfg.Labels, map[string]string{
		labelKind:         kindSandbox,
		labelPodUID:       cfg.PodUID,
		labelPodNamespace: cfg.Namespace,
		labelPodName:      cfg.Name,
		labelHostname:     cfg.Hostname,
		labelNetNS:        cfg.NetNSPath,
	})
	ctr, err := c.client.NewContainer(ctx, id,
		containerd.WithRuntime(runcRuntime, nil),
		// Never run: the spec only satisfies containerd's validation.
		containerd.WithSpec(&oci.Spec{Version: specs.Version, Hostname: cfg.Hostname}),
		containerd.WithContainerLabels(labels),
	)
	if errdefs.IsAlreadyExists(err) {
		sb, err := loadSandbox(ctx, c, id)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if err := ensureSandboxNamespaces(c.dataDir, sb); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return id, nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	// The record comes first: should the plugin die before the namespaces
	// exist, whatever needs them next makes them.
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err == nil {
		err = ensureSandboxNamespaces(c.dataDir, sandboxFromInfo(info))
	}
	if err != nil {
		rctx := context.WithoutCancel(ctx)
		if rerr := removeSandboxNamespaces(c.dataDir, id); rerr != nil {
			r.log.Warn("rolling back a sandbox's namespaces", "sandbox", id, "error", rerr)
		}
		if derr := ctr.Delete(rctx); derr != nil && !errdefs.IsNotFound(derr) {
			r.log.Warn("rolling back a sandbox", "sandbox", id, "error", derr)
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

// sandboxInfo is a sandbox as stored, with what containers need of it.
type sandboxInfo struct {
	runtime.Sandbox
	Hostname string
}

// podName is "namespace/name", for messages.
func (s sandboxInfo) podName() string { return s.Namespace + "/" + s.Name }

// hostname is the hostname of the sandbox's UTS namespace: the one it was
// given, or the pod's name, cut to 63 characters as kubelet does (a pod name
// may be longer than a hostname can be).
func (s sandboxInfo) hostname() string {
	h := s.Hostname
	if h == "" {
		h = s.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

func sandboxFromInfo(info containers.Container) sandboxInfo {
	l := info.Labels
	return sandboxInfo{
		Sandbox: runtime.Sandbox{
			ID:        info.ID,
			PodUID:    l[labelPodUID],
			Namespace: l[labelPodNamespace],
			Name:      l[labelPodName],
			NetNSPath: l[labelNetNS],
			Labels:    userLabels(l),
			CreatedAt: info.CreatedAt,
		},
		Hostname: l[labelHostname],
	}
}

// loadSandbox reads sandbox id, or wraps base.ErrNotFound.
func loadSandbox(ctx context.Context, c *conn, id string) (sandboxInfo, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return sandboxInfo{}, fmt.Errorf("sandbox %q: %w", id, base.ErrNotFound)
	}
	if err != nil {
		return sandboxInfo{}, fmt.Errorf("sandbox %q: %w", id, err)
	}
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return sandboxInfo{}, fmt.Errorf("sandbox %q: %w", id, err)
	}
	if info.Labels[labelKind] != kindSandbox {
		return sandboxInfo{}, fmt.Errorf("sandbox %q: not a sandbox: %w", id, base.ErrNotFound)
	}
	return sandboxFromInfo(info), nil
}

// sandboxContainers lists the IDs of the containers of a sandbox.
func sandboxContainers(ctx context.Context, c *conn, sandboxID string) ([]string, error) {
	ctrs, err := c.client.Containers(ctx, kindFilter(kindContainer)+","+fmt.Sprintf("labels.%q==%q", labelSandboxID, sandboxID))
	if err != nil {
		return nil, fmt.Errorf("containers of sandbox %q: %w", sandboxID, err)
	}
	ids := make([]string, 0, len(ctrs))
	for _, ctr := range ctrs {
		ids = append(ids, ctr.ID())
	}
	return ids, nil
}

// StopPodSandbox kills whatever still runs in the sandbox. The agent stops
// containers gracefully first; this is the backstop, so it does not wait.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	ids, err := sandboxContainers(ctx, c, id)
	if err != nil {
		return err
	}
	var errs []error
	for _, cid := range ids {
		if err := r.stopContainer(ctx, c, cid, 0); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop sandbox %q: %w", id, err)
	}
	return nil
}

// RemovePodSandbox removes the sandbox's containers, its namespaces, then
// the sandbox.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return err
	}
	unlock := r.locks.lock(id)
	defer unlock()
	sb, err := loadSandbox(ctx, c, id)
	if errors.Is(err, base.ErrNotFound) {
		// Nothing is left but, perhaps, namespaces a failed RunPodSandbox
		// could not roll back.
		return removeSandboxNamespaces(c.dataDir, id)
	}
	if err != nil {
		return err
	}
	ids, err := sandboxContainers(ctx, c, id)
	if err != nil {
		return err
	}
	for _, cid := range ids {
		if err := r.removeContainer(ctx, c, cid); err != nil {
			return fmt.Errorf("remove sandbox of pod %q: %w", sb.podName(), err)
		}
	}
	// Before the record: should this fail or the plugin die, the sandbox
	// is still listed and removing it again finishes the job.
	if err := removeSandboxNamespaces(c.dataDir, id); err != nil {
		return fmt.Errorf("remove sandbox of pod %q: %w", sb.podName(), err)
	}
	ctr, err := c.client.LoadContainer(ctx, id)
	if err == nil {
		err = ctr.Delete(ctx)
	}
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove sandbox of pod %q: %w", sb.podName(), err)
	}
	return nil
}

// ListSandboxes lists the sandboxes whose labels include labels.
func (r *Runtime) ListSandboxes(ctx context.Context, labels map[string]string) ([]runtime.Sandbox, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	ctrs, err := c.client.Containers(ctx, kindFilter(kindSandbox)+labelsFilter(labels))
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	out := []runtime.Sandbox{}
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			return nil, fmt.Errorf("list sandboxes: %w", err)
		}
		sb := sandboxFromInfo(info)
		if matchLabels(sb.Labels, labels) {
			out = append(out, sb.Sandbox)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}
