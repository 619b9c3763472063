package scheduler

import (
	"context"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler/schedulerpb"
)

// server is the plugin's side: it serves skiff.scheduler.v1.Scheduler by
// calling the implementation.
type server struct {
	schedulerpb.UnimplementedSchedulerServer
	impl Scheduler
}

func (s *server) Update(ctx context.Context, req *schedulerpb.UpdateRequest) (*schedulerpb.UpdateResponse, error) {
	changes, err := changesFromProto(req.GetChanges())
	if err != nil {
		return nil, base.ToStatus(err)
	}
	if err := s.impl.Update(ctx, changes); err != nil {
		return nil, base.ToStatus(err)
	}
	return &schedulerpb.UpdateResponse{}, nil
}

func (s *server) Schedule(ctx context.Context, req *schedulerpb.ScheduleRequest) (*schedulerpb.ScheduleResponse, error) {
	ds, err := s.impl.Schedule(ctx, podsFromProto(req.GetPods()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &schedulerpb.ScheduleResponse{Decisions: decisionsToProto(ds)}, nil
}
