package containerdruntime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
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

// specOpts builds the container's OCI spec from its image, its sandbox's
// namespaces and its config. Order matters: the image config first, then
// what overrides it.
func specOpts(img containerd.Image, imgCfg ocispec.ImageConfig, ns nsPaths, cfg runtime.ContainerConfig) ([]oci.SpecOpts, error) {
	args := processArgs(imgCfg, cfg.Command, cfg.Args)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command: neither the config nor the image gives one: %w", base.ErrInvalid)
	}
	if err := checkRunAsNonRoot(cfg.Security, imgCfg.User); err != nil {
		return nil, err
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
	// The sandbox's namespaces replace the default spec's new ones. The
	// hostname is the UTS namespace's, set when it was made: the spec sets
	// none, so no container changes it for the others.
	opts = append(opts,
		withoutHostname,
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: ns.IPC}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: ns.UTS}),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: ns.Net}),
		withShm(ns.Shm),
	)
	sec, err := securityOpts(cfg.Security, imgCfg.User)
	if err != nil {
		return nil, err
	}
	opts = append(opts, sec...)
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

// withShm replaces the default spec's private /dev/shm with the sandbox's.
func withShm(path string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		m := specs.Mount{
			Destination: "/dev/shm",
			Type:        "bind",
			Source:      path,
			Options:     []string{"rbind", "rprivate", "nosuid", "nodev", "noexec", "rw"},
		}
		for i := range s.Mounts {
			if s.Mounts[i].Destination == m.Destination {
				s.Mounts[i] = m
				return nil
			}
		}
		s.Mounts = append(s.Mounts, m)
		return nil
	}
}

// withoutHostname leaves the hostname to the joined UTS namespace.
func withoutHostname(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	s.Hostname = ""
	return nil
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
