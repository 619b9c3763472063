package scheduler

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler/schedulerpb"
)

// client is the host's side of a scheduler plugin: it implements Scheduler
// over gRPC.
type client struct {
	*base.PluginClient
	c schedulerpb.SchedulerClient
}

var _ Scheduler = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{PluginClient: base.NewPluginClient(conn), c: schedulerpb.NewSchedulerClient(conn)}
}

func (c *client) Update(ctx context.Context, changes []Change) error {
	pcs, err := changesToProto(changes)
	if err != nil {
		return fmt.Errorf("scheduler update: %w", err)
	}
	_, err = c.c.Update(ctx, &schedulerpb.UpdateRequest{Changes: pcs})
	return base.FromStatus(err)
}

func (c *client) Schedule(ctx context.Context, pods []Pod) ([]Decision, error) {
	resp, err := c.c.Schedule(ctx, &schedulerpb.ScheduleRequest{Pods: podsToProto(pods)})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	if n := len(resp.GetDecisions()); n != len(pods) {
		return nil, fmt.Errorf("scheduler plugin answered %d decisions for %d pods", n, len(pods))
	}
	return decisionsFromProto(resp.GetDecisions()), nil
}
