package containerdruntime

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// normalizeRef turns "busybox" into "docker.io/library/busybox:latest".
func normalizeRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w: %w", ref, base.ErrInvalid, err)
	}
	return named.String(), nil
}

// PullImage fetches ref with its layers unpacked for the snapshotter.
func (r *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	name, err := normalizeRef(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	plain := slices.Concat(c.plainHTTP, opts.PlainHTTPRegistries)
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(func(host string) (bool, error) {
			return slices.Contains(plain, host), nil
		})),
	})
	img, err := c.client.Pull(ctx, name,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.snapshotter),
		containerd.WithResolver(resolver),
	)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("pull image %q: %w: %w", name, runtime.ErrImagePull, err)
	}
	return describeImage(ctx, img)
}

// ImageStatus reports the local image ref.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (runtime.Image, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return runtime.Image{}, err
	}
	img, err := localImage(ctx, c, ref)
	if err != nil {
		return runtime.Image{}, err
	}
	return describeImage(ctx, img)
}

// localImage finds ref among the local images, or wraps base.ErrNotFound.
func localImage(ctx context.Context, c *conn, ref string) (containerd.Image, error) {
	name, err := normalizeRef(ref)
	if err != nil {
		return nil, err
	}
	img, err := c.client.GetImage(ctx, name)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %q: %w", name, base.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", name, err)
	}
	return img, nil
}

// ListImages lists the local images usable on this platform.
func (r *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	imgs, err := c.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]runtime.Image, 0, len(imgs))
	for _, img := range imgs {
		desc, err := describeImage(ctx, img)
		if errdefs.IsNotFound(err) {
			continue // no content for this platform
		}
		if err != nil {
			return nil, err
		}
		out = append(out, desc)
	}
	return out, nil
}

// ImportImages loads an OCI layout or docker-archive tar and unpacks every
// image it names for this platform.
func (r *Runtime) ImportImages(ctx context.Context, archive io.Reader) ([]runtime.Image, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	imported, err := c.client.Import(ctx, archive)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("import images: %w", ctx.Err())
		}
		return nil, fmt.Errorf("import images: %w: %w", runtime.ErrInvalidArchive, err)
	}
	if len(imported) == 0 {
		return nil, fmt.Errorf("import images: the archive names no image: %w", runtime.ErrInvalidArchive)
	}
	out := make([]runtime.Image, 0, len(imported))
	for _, i := range imported {
		img := containerd.NewImage(c.client, i)
		if err := img.Unpack(ctx, c.snapshotter); err != nil {
			return nil, fmt.Errorf("import images: unpack %q: %w", i.Name, err)
		}
		desc, err := describeImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("import images: %w", err)
		}
		out = append(out, desc)
	}
	return out, nil
}

// describeImage reports img as the contract's Image.
func describeImage(ctx context.Context, img containerd.Image) (runtime.Image, error) {
	cfg, err := img.Config(ctx)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("image %q: config: %w", img.Name(), err)
	}
	size, err := img.Size(ctx)
	if err != nil {
		return runtime.Image{}, fmt.Errorf("image %q: size: %w", img.Name(), err)
	}
	out := runtime.Image{Ref: img.Name(), ID: cfg.Digest.String(), Size: size}
	if named, err := reference.ParseNormalizedNamed(img.Name()); err == nil {
		out.RepoDigest = reference.TrimNamed(named).String() + "@" + img.Target().Digest.String()
	}
	return out, nil
}

// ensureUnpacked unpacks img for the snapshotter if it is not yet.
func ensureUnpacked(ctx context.Context, img containerd.Image, snapshotter string) error {
	ok, err := img.IsUnpacked(ctx, snapshotter)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.Name(), err)
	}
	if ok {
		return nil
	}
	if err := img.Unpack(ctx, snapshotter); err != nil {
		return fmt.Errorf("image %q: unpack: %w", img.Name(), err)
	}
	return nil
}
