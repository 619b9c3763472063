package fit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fit"
)

func TestSchedulerUpdate(t *testing.T) {
	ctx := context.Background()
	s := fit.NewScheduler(pickFewestPods)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	// A bad batch says so first, even with ctx done.
	err := s.Update(cancelled, []scheduler.Change{upsertNode(&scheduler.Node{})})
	if !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("Update(bad batch, cancelled) = %v, want base.ErrInvalid", err)
	}
	// A batch whose ctx is done changes nothing.
	err = s.Update(cancelled, []scheduler.Change{upsertNode(node("n1", 1000, gi, 10))})
	if !errors.Is(err, context.Canceled) || err.Error() != "scheduler update: context canceled" {
		t.Fatalf("Update(cancelled) = %v, want context.Canceled", err)
	}
	ds, err := s.Schedule(ctx, []scheduler.Pod{pod("a", 100, 0)})
	if err != nil || decisions(ds) != "a: no nodes available to schedule pods" {
		t.Fatalf("Schedule after a cancelled Update = %s, %v", decisions(ds), err)
	}

	if err := s.Update(ctx, []scheduler.Change{upsertNode(node("n1", 1000, gi, 10)), upsertNode(node("n2", 1000, gi, 10))}); err != nil {
		t.Fatal(err)
	}
	ds, err = s.Schedule(ctx, []scheduler.Pod{pod("a", 100, 0), pod("b", 100, 0), pod("c", 2000, 0)})
	if want := "a->n1; b->n2; c: 0/2 nodes are available: 2 Insufficient cpu."; err != nil || decisions(ds) != want {
		t.Fatalf("Schedule = %s, %v; want %s", decisions(ds), err, want)
	}
}

// TestSchedulerConcurrentCalls is for the race detector: the core may call
// Update and Schedule at the same time.
func TestSchedulerConcurrentCalls(t *testing.T) {
	ctx := context.Background()
	s := fit.NewScheduler(pickFewestPods)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				name := fmt.Sprintf("p%d-%d", i, j)
				if err := s.Update(ctx, []scheduler.Change{upsertNode(node(fmt.Sprintf("n%d", j%3), 1000, gi, 110))}); err != nil {
					t.Error(err)
				}
				if _, err := s.Schedule(ctx, []scheduler.Pod{pod(name, 1, 0)}); err != nil {
					t.Error(err)
				}
				if err := s.Update(ctx, []scheduler.Change{deletePod(name)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
