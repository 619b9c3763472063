package fit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/conformance"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

// fewestPods is a whole scheduler plugin written with fit: all but Info,
// Configure and its choice of node is the package's.
type fewestPods struct {
	*fit.Scheduler
}

func newFewestPods() *fewestPods { return &fewestPods{Scheduler: fit.NewScheduler(pickFewestPods)} }

func (s *fewestPods) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: "fewest-pods", Version: "0.0.1", APIVersion: scheduler.APIVersion}, nil
}

func (s *fewestPods) Configure(_ context.Context, cfg base.Config) error {
	_, err := base.ValidateSettings(nil, cfg.Settings)
	return err
}

// pickFewestPods is the plugin's own part: the node with the fewest pods,
// the lowest name on a tie (Feasible visits nodes in name order).
func pickFewestPods(v *fit.View, p scheduler.Pod) (node, reason string) {
	fewest := int64(-1)
	reason = v.Feasible(p, func(n *scheduler.Node, u fit.Usage) {
		if fewest < 0 || u.Pods < fewest {
			node, fewest = n.Name, u.Pods
		}
	})
	return node, reason
}

// The package's claim: a plugin written as above keeps the contract,
// whatever it scores.
func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) scheduler.Scheduler { return newFewestPods() })
}

func Example() {
	ctx := context.Background()
	s := newFewestPods()
	small := &scheduler.Node{Name: "small", Ready: true, Allocatable: scheduler.Resources{MilliCPU: 1000, MemoryBytes: 1 << 30, Pods: 110}}
	big := &scheduler.Node{Name: "big", Ready: true, Allocatable: scheduler.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30, Pods: 110}}
	_ = s.Update(ctx, []scheduler.Change{{Type: scheduler.Upsert, Node: small}, {Type: scheduler.Upsert, Node: big}})

	ds, _ := s.Schedule(ctx, []scheduler.Pod{
		{Namespace: "default", Name: "web-1", Requests: scheduler.Resources{MilliCPU: 500}},
		{Namespace: "default", Name: "web-2", Requests: scheduler.Resources{MilliCPU: 500}},
		{Namespace: "default", Name: "batch", Requests: scheduler.Resources{MilliCPU: 3600}},
		{Namespace: "default", Name: "huge", Requests: scheduler.Resources{MilliCPU: 8000, MemoryBytes: 2 << 30}},
	})
	for _, d := range ds {
		if d.NodeName != "" {
			fmt.Printf("%s -> %s\n", d.Name, d.NodeName)
		} else {
			fmt.Printf("%s: %s\n", d.Name, d.Reason)
		}
	}
	// Output:
	// web-1 -> big
	// web-2 -> small
	// batch: 0/2 nodes are available: 2 Insufficient cpu.
	// huge: 0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.
}
