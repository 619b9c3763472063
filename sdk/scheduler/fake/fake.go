// Package fake has a scheduler.Scheduler made of function fields, for unit
// tests of code that calls a scheduler plugin.
package fake

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// Scheduler implements scheduler.Scheduler by calling its function fields.
// A nil field makes its method fail with an error wrapping
// base.ErrUnsupported.
type Scheduler struct {
	InfoFunc      func(ctx context.Context) (base.Info, error)
	ConfigureFunc func(ctx context.Context, cfg base.Config) error
	UpdateFunc    func(ctx context.Context, changes []scheduler.Change) error
	ScheduleFunc  func(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error)
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

func unsupported(method string) error {
	return fmt.Errorf("fake scheduler: %s: %w", method, base.ErrUnsupported)
}

// Info calls InfoFunc.
func (f *Scheduler) Info(ctx context.Context) (base.Info, error) {
	if f.InfoFunc == nil {
		return base.Info{}, unsupported("Info")
	}
	return f.InfoFunc(ctx)
}

// Configure calls ConfigureFunc.
func (f *Scheduler) Configure(ctx context.Context, cfg base.Config) error {
	if f.ConfigureFunc == nil {
		return unsupported("Configure")
	}
	return f.ConfigureFunc(ctx, cfg)
}

// Update calls UpdateFunc.
func (f *Scheduler) Update(ctx context.Context, changes []scheduler.Change) error {
	if f.UpdateFunc == nil {
		return unsupported("Update")
	}
	return f.UpdateFunc(ctx, changes)
}

// Schedule calls ScheduleFunc.
func (f *Scheduler) Schedule(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
	if f.ScheduleFunc == nil {
		return nil, unsupported("Schedule")
	}
	return f.ScheduleFunc(ctx, pods)
}
