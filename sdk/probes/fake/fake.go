// Package fake has a probes.Prober and a probes.Host made of function
// fields, for unit tests of code that calls a probes plugin or serves one.
package fake

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
)

func unsupported(what string) error {
	return fmt.Errorf("fake %s: %w", what, base.ErrUnsupported)
}

// Prober implements probes.Prober and probes.HostSetter by calling its
// function fields. A nil field makes its method fail with an error
// wrapping base.ErrUnsupported, except SetHostFunc: SetHost cannot fail, and
// a nil SetHostFunc ignores the Host.
type Prober struct {
	InfoFunc            func(ctx context.Context) (base.Info, error)
	ConfigureFunc       func(ctx context.Context, cfg base.Config) error
	AddContainerFunc    func(ctx context.Context, c probes.Container) error
	RemoveContainerFunc func(ctx context.Context, containerID string) error
	ResultsFunc         func(ctx context.Context) (<-chan probes.Result, error)
	SetHostFunc         func(h probes.Host)
}

var (
	_ probes.Prober     = (*Prober)(nil)
	_ probes.HostSetter = (*Prober)(nil)
)

// Info calls InfoFunc.
func (f *Prober) Info(ctx context.Context) (base.Info, error) {
	if f.InfoFunc == nil {
		return base.Info{}, unsupported("prober: Info")
	}
	return f.InfoFunc(ctx)
}

// Configure calls ConfigureFunc.
func (f *Prober) Configure(ctx context.Context, cfg base.Config) error {
	if f.ConfigureFunc == nil {
		return unsupported("prober: Configure")
	}
	return f.ConfigureFunc(ctx, cfg)
}

// AddContainer calls AddContainerFunc.
func (f *Prober) AddContainer(ctx context.Context, c probes.Container) error {
	if f.AddContainerFunc == nil {
		return unsupported("prober: AddContainer")
	}
	return f.AddContainerFunc(ctx, c)
}

// RemoveContainer calls RemoveContainerFunc.
func (f *Prober) RemoveContainer(ctx context.Context, containerID string) error {
	if f.RemoveContainerFunc == nil {
		return unsupported("prober: RemoveContainer")
	}
	return f.RemoveContainerFunc(ctx, containerID)
}

// Results calls ResultsFunc.
func (f *Prober) Results(ctx context.Context) (<-chan probes.Result, error) {
	if f.ResultsFunc == nil {
		return nil, unsupported("prober: Results")
	}
	return f.ResultsFunc(ctx)
}

// SetHost calls SetHostFunc, if set.
func (f *Prober) SetHost(h probes.Host) {
	if f.SetHostFunc != nil {
		f.SetHostFunc(h)
	}
}

// Host implements probes.Host by calling ExecFunc; nil fails with an error
// wrapping base.ErrUnsupported.
type Host struct {
	ExecFunc func(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (int, []byte, error)
}

var _ probes.Host = (*Host)(nil)

// Exec calls ExecFunc.
func (f *Host) Exec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (int, []byte, error) {
	if f.ExecFunc == nil {
		return 0, nil, unsupported("host: Exec")
	}
	return f.ExecFunc(ctx, containerID, cmd, timeout)
}
