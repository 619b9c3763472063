package containerdruntime

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// processArgs applies Kubernetes' rules to the image's entrypoint and cmd:
// Command replaces the entrypoint, Args the cmd, and a Command without Args
// drops the image's cmd.
func processArgs(img ocispec.ImageConfig, command, args []string) []string {
	entrypoint, cmd := img.Entrypoint, img.Cmd
	if len(command) > 0 {
		entrypoint, cmd = command, nil
	}
	if len(args) > 0 {
		cmd = args
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// specOpts builds the container's OCI spec from its image, its sandbox and
// its config. Order matters: the image config first, then what overrides it.
func specOpts(img containerd.Image, imgCfg ocispec.ImageConfig, sb sandboxInfo, cfg runtime.ContainerConfig) ([]oci.SpecOpts, error) {
	args := processArgs(imgCfg, cfg.Command, cfg.Args)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command: neither the config nor the image gives one: %w", base.ErrInvalid)
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
	}
	if len(cfg.Env) > 0 {
		opts = append(opts, oci.WithEnv(cfg.Env))
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	hostname := sb.Hostname
	if hostname == "" {
		hostname = sb.Name
	}
	if hostname != "" {
		opts = append(opts, oci.WithHostname(hostname))
	}
	// The default spec has a new network namespace: joining the pod's
	// replaces it, and without one the container stays in its own, empty
	// one, never the host's.
	if sb.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}))
	}
	mounts, err := bindMounts(cfg.Mounts)
	if err != nil {
		return nil, err
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	opts = append(opts, resourceOpts(cfg.Resources)...)
	if cfg.TTY {
		opts = append(opts, oci.WithTTY)
	}
	return opts, nil
}

// bindMounts checks the config's mounts and returns them as OCI bind mounts.
func bindMounts(ms []runtime.Mount) ([]specs.Mount, error) {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		if !filepath.IsAbs(m.HostPath) || !filepath.IsAbs(m.ContainerPath) {
			return nil, fmt.Errorf("mount %q at %q: paths must be absolute: %w", m.HostPath, m.ContainerPath, base.ErrInvalid)
		}
		if _, err := os.Stat(m.HostPath); err != nil {
			return nil, fmt.Errorf("mount %q at %q: %w", m.HostPath, m.ContainerPath, err)
		}
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		out = append(out, specs.Mount{
			Type:        "bind",
			Source:      m.HostPath,
			Destination: m.ContainerPath,
			Options:     []string{"rbind", "rprivate", mode},
		})
	}
	return out, nil
}

func resourceOpts(res runtime.ContainerResources) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(res.CPUShares))
	}
	if res.CPUQuota != 0 || res.CPUPeriod != 0 {
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, res.CPUPeriod))
	}
	if res.MemoryLimitBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimitBytes)))
	}
	return opts
}
