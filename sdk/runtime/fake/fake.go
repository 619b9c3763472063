// Package fake is a runtime.Runtime for unit tests of callers: every method
// calls the function field of the same name. A nil field makes the method
// return an error wrapping base.ErrUnsupported, except Info and Configure,
// which have harmless defaults so generic host code (handshake, supervision)
// works without setup.
package fake

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Runtime implements runtime.Runtime with function fields.
type Runtime struct {
	InfoFunc      func(ctx context.Context) (base.Info, error)
	ConfigureFunc func(ctx context.Context, cfg base.Config) error

	PullImageFunc    func(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error)
	ImageStatusFunc  func(ctx context.Context, ref string) (runtime.Image, error)
	ListImagesFunc   func(ctx context.Context) ([]runtime.Image, error)
	ImportImagesFunc func(ctx context.Context, archive io.Reader) ([]runtime.Image, error)

	RunPodSandboxFunc    func(ctx context.Context, cfg runtime.SandboxConfig) (string, error)
	StopPodSandboxFunc   func(ctx context.Context, sandboxID string) error
	RemovePodSandboxFunc func(ctx context.Context, sandboxID string) error
	ListSandboxesFunc    func(ctx context.Context, labels map[string]string) ([]runtime.Sandbox, error)

	CreateContainerFunc func(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error)
	StartContainerFunc  func(ctx context.Context, id string) error
	StopContainerFunc   func(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainerFunc func(ctx context.Context, id string) error
	ContainerStatusFunc func(ctx context.Context, id string) (runtime.ContainerStatus, error)
	ListContainersFunc  func(ctx context.Context, labels map[string]string) ([]runtime.ContainerStatus, error)

	ContainerLogsFunc func(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error)
	ExecFunc          func(ctx context.Context, id string, opts runtime.ExecOptions) (int, error)
	PortForwardFunc   func(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error
}

var _ runtime.Runtime = (*Runtime)(nil)

func unsupported(method string) error {
	return fmt.Errorf("fake runtime: %s: %w", method, base.ErrUnsupported)
}

// Info calls InfoFunc; without it, it describes a runtime named "fake".
func (f *Runtime) Info(ctx context.Context) (base.Info, error) {
	if f.InfoFunc == nil {
		return base.Info{Kind: base.KindRuntime, Name: "fake", Version: "0", APIVersion: runtime.APIVersion}, nil
	}
	return f.InfoFunc(ctx)
}

// Configure calls ConfigureFunc; without it, it accepts any config.
func (f *Runtime) Configure(ctx context.Context, cfg base.Config) error {
	if f.ConfigureFunc == nil {
		return nil
	}
	return f.ConfigureFunc(ctx, cfg)
}

func (f *Runtime) PullImage(ctx context.Context, ref string, opts runtime.PullOptions) (runtime.Image, error) {
	if f.PullImageFunc == nil {
		return runtime.Image{}, unsupported("PullImage")
	}
	return f.PullImageFunc(ctx, ref, opts)
}

func (f *Runtime) ImageStatus(ctx context.Context, ref string) (runtime.Image, error) {
	if f.ImageStatusFunc == nil {
		return runtime.Image{}, unsupported("ImageStatus")
	}
	return f.ImageStatusFunc(ctx, ref)
}

func (f *Runtime) ListImages(ctx context.Context) ([]runtime.Image, error) {
	if f.ListImagesFunc == nil {
		return nil, unsupported("ListImages")
	}
	return f.ListImagesFunc(ctx)
}

func (f *Runtime) ImportImages(ctx context.Context, archive io.Reader) ([]runtime.Image, error) {
	if f.ImportImagesFunc == nil {
		return nil, unsupported("ImportImages")
	}
	return f.ImportImagesFunc(ctx, archive)
}

func (f *Runtime) RunPodSandbox(ctx context.Context, cfg runtime.SandboxConfig) (string, error) {
	if f.RunPodSandboxFunc == nil {
		return "", unsupported("RunPodSandbox")
	}
	return f.RunPodSandboxFunc(ctx, cfg)
}

func (f *Runtime) StopPodSandbox(ctx context.Context, sandboxID string) error {
	if f.StopPodSandboxFunc == nil {
		return unsupported("StopPodSandbox")
	}
	return f.StopPodSandboxFunc(ctx, sandboxID)
}

func (f *Runtime) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	if f.RemovePodSandboxFunc == nil {
		return unsupported("RemovePodSandbox")
	}
	return f.RemovePodSandboxFunc(ctx, sandboxID)
}

func (f *Runtime) ListSandboxes(ctx context.Context, labels map[string]string) ([]runtime.Sandbox, error) {
	if f.ListSandboxesFunc == nil {
		return nil, unsupported("ListSandboxes")
	}
	return f.ListSandboxesFunc(ctx, labels)
}

func (f *Runtime) CreateContainer(ctx context.Context, sandboxID string, cfg runtime.ContainerConfig) (string, error) {
	if f.CreateContainerFunc == nil {
		return "", unsupported("CreateContainer")
	}
	return f.CreateContainerFunc(ctx, sandboxID, cfg)
}

func (f *Runtime) StartContainer(ctx context.Context, id string) error {
	if f.StartContainerFunc == nil {
		return unsupported("StartContainer")
	}
	return f.StartContainerFunc(ctx, id)
}

func (f *Runtime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	if f.StopContainerFunc == nil {
		return unsupported("StopContainer")
	}
	return f.StopContainerFunc(ctx, id, timeout)
}

func (f *Runtime) RemoveContainer(ctx context.Context, id string) error {
	if f.RemoveContainerFunc == nil {
		return unsupported("RemoveContainer")
	}
	return f.RemoveContainerFunc(ctx, id)
}

func (f *Runtime) ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error) {
	if f.ContainerStatusFunc == nil {
		return runtime.ContainerStatus{}, unsupported("ContainerStatus")
	}
	return f.ContainerStatusFunc(ctx, id)
}

func (f *Runtime) ListContainers(ctx context.Context, labels map[string]string) ([]runtime.ContainerStatus, error) {
	if f.ListContainersFunc == nil {
		return nil, unsupported("ListContainers")
	}
	return f.ListContainersFunc(ctx, labels)
}

func (f *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	if f.ContainerLogsFunc == nil {
		return nil, unsupported("ContainerLogs")
	}
	return f.ContainerLogsFunc(ctx, id, opts)
}

func (f *Runtime) Exec(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
	if f.ExecFunc == nil {
		return 0, unsupported("Exec")
	}
	return f.ExecFunc(ctx, id, opts)
}

func (f *Runtime) PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error {
	if f.PortForwardFunc == nil {
		return unsupported("PortForward")
	}
	return f.PortForwardFunc(ctx, sandboxID, port, stream)
}
