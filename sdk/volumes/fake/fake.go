// Package fake has a volumes.Volumes made of function fields, for unit
// tests of code that calls a volumes plugin.
package fake

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Volumes implements volumes.Volumes by calling its function fields. A nil
// field makes its method fail with an error wrapping base.ErrUnsupported.
type Volumes struct {
	InfoFunc      func(ctx context.Context) (base.Info, error)
	ConfigureFunc func(ctx context.Context, cfg base.Config) error
	PrepareFunc   func(ctx context.Context, pod volumes.Pod) ([]volumes.Mounted, error)
	SubPathFunc   func(ctx context.Context, sp volumes.SubPath) (string, error)
	TeardownFunc  func(ctx context.Context, podUID string) error
}

var _ volumes.Volumes = (*Volumes)(nil)

func unsupported(method string) error {
	return fmt.Errorf("fake volumes: %s: %w", method, base.ErrUnsupported)
}

// Info calls InfoFunc.
func (f *Volumes) Info(ctx context.Context) (base.Info, error) {
	if f.InfoFunc == nil {
		return base.Info{}, unsupported("Info")
	}
	return f.InfoFunc(ctx)
}

// Configure calls ConfigureFunc.
func (f *Volumes) Configure(ctx context.Context, cfg base.Config) error {
	if f.ConfigureFunc == nil {
		return unsupported("Configure")
	}
	return f.ConfigureFunc(ctx, cfg)
}

// Prepare calls PrepareFunc.
func (f *Volumes) Prepare(ctx context.Context, pod volumes.Pod) ([]volumes.Mounted, error) {
	if f.PrepareFunc == nil {
		return nil, unsupported("Prepare")
	}
	return f.PrepareFunc(ctx, pod)
}

// PrepareSubPath calls SubPathFunc.
func (f *Volumes) PrepareSubPath(ctx context.Context, sp volumes.SubPath) (string, error) {
	if f.SubPathFunc == nil {
		return "", unsupported("PrepareSubPath")
	}
	return f.SubPathFunc(ctx, sp)
}

// Teardown calls TeardownFunc.
func (f *Volumes) Teardown(ctx context.Context, podUID string) error {
	if f.TeardownFunc == nil {
		return unsupported("Teardown")
	}
	return f.TeardownFunc(ctx, podUID)
}
