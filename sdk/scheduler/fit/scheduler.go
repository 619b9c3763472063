package fit

import (
	"context"
	"fmt"
	"sync"

	"github.com/skiffhq/skiff/sdk/scheduler"
)

// PickFunc is a plugin's own part: it chooses the node for pod p, or returns
// "" and the reason none fits (usually what v.Feasible returned). It runs
// with the view locked, and must not keep v.
type PickFunc func(v *View, p scheduler.Pod) (node, reason string)

// Scheduler is the half of a scheduler.Scheduler that the contract fixes:
// Update and Schedule over a View behind a mutex, choosing nodes with a
// PickFunc. Embed it in a plugin, which adds Info and Configure
// (base.Plugin). Make it with NewScheduler.
type Scheduler struct {
	mu   sync.Mutex
	view View
	pick PickFunc
}

// NewScheduler returns a Scheduler with an empty view that chooses nodes
// with pick.
func NewScheduler(pick PickFunc) *Scheduler {
	return &Scheduler{pick: pick}
}

// Update implements scheduler.Scheduler: see View.Apply. A bad batch
// changes nothing, and neither does a batch whose ctx is done.
func (s *Scheduler) Update(ctx context.Context, changes []scheduler.Change) error {
	if err := validateAll(changes); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scheduler update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view.applyAll(changes)
	return nil
}

// Schedule implements scheduler.Scheduler: see View.Schedule.
func (s *Scheduler) Schedule(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.Schedule(ctx, pods, func(p scheduler.Pod) (string, string) { return s.pick(&s.view, p) })
}
