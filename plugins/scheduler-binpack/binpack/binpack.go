// Package binpack is a scheduler plugin that packs pods onto as few nodes as
// it can, the way kube-scheduler does with the NodeResourcesFit plugin's
// MostAllocated scoring strategy.
//
// What the scheduler contract fixes (the view of nodes and pods, the
// assumptions made in Schedule, the filters and kube-scheduler's reasons,
// the "0/<nodes> nodes are available: ..." message) comes from the SDK's
// package fit; see fit.Filter for the filters and their order.
//
// Among the nodes that pass, it picks the one with the highest score, the
// lowest name on a tie. The score is MostAllocated with cpu and memory
// weighted 1:1: per resource, (requested on the node + the pod's request) *
// 100 / allocatable, capped at 100, integer division; then the weighted
// average. For scoring only, a pod that requests no cpu counts as 100m and
// one that requests no memory as 200Mi, as kube-scheduler does (see
// fit.NonZero). A resource the node has none of is left out of the average.
package binpack

import (
	"context"
	"fmt"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// Scheduler is the binpack scheduler. Make it with New. Update and
// Schedule are fit.Scheduler's, which places each pod on the node pick
// chooses and assumes it there until the core binds or deletes it.
type Scheduler struct {
	*fit.Scheduler
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

// New returns an empty scheduler.
func New() *Scheduler { return &Scheduler{Scheduler: fit.NewScheduler(pick)} }

// Info implements base.Plugin.
func (s *Scheduler) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: "binpack", Version: Version, APIVersion: scheduler.APIVersion}, nil
}

// Configure implements base.Plugin. The plugin has no settings.
func (s *Scheduler) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(nil, cfg.Settings); err != nil {
		return fmt.Errorf("binpack: %w: %w", err, base.ErrInvalid)
	}
	return nil
}

// pick returns the best node for p, or "" and why none fits.
func pick(v *fit.View, p scheduler.Pod) (node, reason string) {
	bestScore := int64(-1)
	reason = v.Feasible(p, func(n *scheduler.Node, u fit.Usage) {
		// Nodes come in name order: a strictly higher score is needed to
		// win, so ties go to the lowest name.
		if sc := Score(n.Allocatable, u.NonZero, p.Requests); sc > bestScore {
			node, bestScore = n.Name, sc
		}
	})
	return node, reason
}

// MaxNodeScore is the best score a node can get.
const MaxNodeScore = 100

// Score is the MostAllocated score (0 to MaxNodeScore) of a node with
// allocatable resources alloc, on which pods already count nonZeroUsed
// (with the scoring defaults applied per pod, fit.Usage.NonZero), for a pod
// requesting req.
func Score(alloc, nonZeroUsed, req scheduler.Resources) int64 {
	nz := fit.NonZero(req)
	resources := []struct{ requested, allocatable, weight int64 }{
		{nonZeroUsed.MilliCPU + nz.MilliCPU, alloc.MilliCPU, 1},
		{nonZeroUsed.MemoryBytes + nz.MemoryBytes, alloc.MemoryBytes, 1},
	}
	var score, weights int64
	for _, r := range resources {
		if r.allocatable == 0 {
			continue
		}
		score += mostRequested(r.requested, r.allocatable) * r.weight
		weights += r.weight
	}
	if weights == 0 {
		return 0
	}
	return score / weights
}

// mostRequested scores one resource: the share of it in use once the pod
// is placed, 0 to MaxNodeScore. requested can exceed allocatable only
// because of the scoring defaults; it then counts as full.
func mostRequested(requested, allocatable int64) int64 {
	if requested > allocatable {
		requested = allocatable
	}
	return requested * MaxNodeScore / allocatable
}
