// Package spread is an example scheduler plugin for skiff that spreads pods
// across nodes: the opposite of skiff's default bin-packing scheduler. It is
// written only against skiff's public SDK (github.com/skiffhq/skiff/sdk), the
// way a plugin author outside the project would write one.
//
// What the scheduler contract (sdk/scheduler) requires of every scheduler
// comes from the SDK's package fit: the view of nodes and pods built from
// the core's changes, the pods assumed in Schedule, and the filters, in
// kube-scheduler's order and words (a node is counted under the first filter
// it fails):
//
//  1. node(s) were unschedulable (the node is cordoned);
//  2. node(s) had untolerated taint {<key>: <value>} (a NoSchedule or
//     NoExecute taint the pod does not tolerate, or the not-ready taint);
//  3. node(s) didn't match Pod's node affinity/selector;
//  4. Too many pods, Insufficient cpu, Insufficient memory (all that apply).
//
// Scoring is the plugin's own choice, picked by the "score" setting:
//
//   - "least-allocated" (default): kube-scheduler's LeastAllocated strategy.
//     Per resource, (allocatable - requested after placing the pod) * 100 /
//     allocatable, cpu and memory weighted 1:1; a pod that requests nothing
//     counts as 100m cpu and 200Mi memory, as in kube-scheduler. The node
//     with the most room left wins; ties go to the node with fewer pods,
//     then to the lowest name.
//   - "fewest-pods": the node running the fewest pods wins; ties go to the
//     lowest name. Requests only filter.
package spread

import (
	"context"
	"fmt"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

// Name and Version are what Info reports.
const (
	Name    = "spread"
	Version = "0.1.0"
)

// Score strategies, the values of the "score" setting.
const (
	LeastAllocated = "least-allocated"
	FewestPods     = "fewest-pods"
)

// SettingScore is the setting that picks the strategy.
const SettingScore = "score"

var settingSpecs = []base.SettingSpec{
	{Name: SettingScore, Description: "how to pick among the nodes that fit: least-allocated or fewest-pods", Default: LeastAllocated},
}

// Scheduler spreads pods. Make it with New. Update and Schedule are
// fit.Scheduler's, which places each pod on the node pick chooses and
// assumes it there until the core binds or deletes it.
type Scheduler struct {
	*fit.Scheduler
	mu       sync.Mutex // guards strategy
	strategy string
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

// Option tunes New.
type Option func(*Scheduler)

// WithScore sets the strategy used until Configure sets another (the core
// always passes the setting, filled with its default, so this is for tests
// and for embedding the scheduler in a program of your own).
func WithScore(strategy string) Option { return func(s *Scheduler) { s.strategy = strategy } }

// New returns a scheduler with an empty view, scoring least-allocated unless
// an option or Configure says otherwise.
func New(opts ...Option) *Scheduler {
	s := &Scheduler{strategy: LeastAllocated}
	s.Scheduler = fit.NewScheduler(s.pick)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Info implements base.Plugin.
func (s *Scheduler) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: Name, Version: Version, APIVersion: scheduler.APIVersion, Settings: settingSpecs}, nil
}

// Configure implements base.Plugin: it checks the settings and picks the
// strategy. A Configure without the "score" setting keeps the current
// strategy. The view is kept: after a restart the core replays it anyway.
func (s *Scheduler) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(settingSpecs, cfg.Settings); err != nil {
		return fmt.Errorf("spread: %w", err)
	}
	strategy, ok := cfg.Settings[SettingScore]
	if !ok {
		return nil
	}
	if strategy != LeastAllocated && strategy != FewestPods {
		return fmt.Errorf("spread: setting %q: %q is not %s or %s: %w", SettingScore, strategy, LeastAllocated, FewestPods, base.ErrInvalid)
	}
	s.mu.Lock()
	s.strategy = strategy
	s.mu.Unlock()
	return nil
}

// pick returns the best node for p, or "" and why none fits.
func (s *Scheduler) pick(v *fit.View, p scheduler.Pod) (node, reason string) {
	s.mu.Lock()
	strategy := s.strategy
	s.mu.Unlock()
	bestScore, bestPods := int64(-1), int64(0)
	reason = v.Feasible(p, func(n *scheduler.Node, u fit.Usage) {
		sc := score(strategy, n, u, p)
		// Nodes come in name order, so a tie keeps the lower name.
		if sc > bestScore || (sc == bestScore && u.Pods < bestPods) {
			node, bestScore, bestPods = n.Name, sc, u.Pods
		}
	})
	return node, reason
}

// score is higher for a better node (0 to 100).
func score(strategy string, n *scheduler.Node, u fit.Usage, p scheduler.Pod) int64 {
	if strategy == FewestPods {
		if n.Allocatable.Pods <= 0 {
			return 0
		}
		return (n.Allocatable.Pods - u.Pods) * 100 / n.Allocatable.Pods
	}
	return LeastAllocatedScore(n.Allocatable, u.NonZero, p.Requests)
}

// LeastAllocatedScore is kube-scheduler's LeastAllocated score (0 to 100)
// of a node with allocatable resources alloc, on which pods already count
// used (with the scoring defaults, fit.Usage.NonZero), for a pod requesting
// req. A resource the node has none of is left out of the average.
func LeastAllocatedScore(alloc, used, req scheduler.Resources) int64 {
	sc := fit.NonZero(req)
	var total, weights int64
	for _, r := range []struct{ requested, allocatable int64 }{
		{used.MilliCPU + sc.MilliCPU, alloc.MilliCPU},
		{used.MemoryBytes + sc.MemoryBytes, alloc.MemoryBytes},
	} {
		if r.allocatable <= 0 {
			continue
		}
		free := max(r.allocatable-r.requested, 0)
		total += free * 100 / r.allocatable
		weights++
	}
	if weights == 0 {
		return 0
	}
	return total / weights
}
