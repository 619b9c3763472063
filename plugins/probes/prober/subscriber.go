package prober

import (
	"context"
	"sync"

	"github.com/skiffhq/skiff/sdk/probes"
)

// subscriber queues results for one Results caller, so a slow reader never
// blocks the probes nor loses a transition.
type subscriber struct {
	mu    sync.Mutex
	queue []probes.Result
	wake  chan struct{}
}

func newSubscriber() *subscriber {
	return &subscriber{wake: make(chan struct{}, 1)}
}

func (s *subscriber) push(r probes.Result) {
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) take() []probes.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// pump moves queued results to out until ctx ends.
func (s *subscriber) pump(ctx context.Context, out chan<- probes.Result) {
	for {
		for _, r := range s.take() {
			select {
			case out <- r:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}
