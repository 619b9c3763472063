package probes

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes/probespb"
)

// server is the plugin's side: it serves skiff.probes.v1.Prober by calling
// the implementation, and dials the host's Host when handed one.
type server struct {
	probespb.UnimplementedProberServer
	impl   Prober
	broker *plugin.GRPCBroker

	mu       sync.Mutex
	hostConn *grpc.ClientConn
}

func (s *server) SetHost(_ context.Context, req *probespb.SetHostRequest) (*probespb.SetHostResponse, error) {
	setter, ok := s.impl.(HostSetter)
	if !ok {
		// The plugin runs no exec probes: it needs no Host.
		return &probespb.SetHostResponse{}, nil
	}
	conn, err := s.broker.Dial(req.GetBrokerId())
	if err != nil {
		return nil, base.ToStatus(fmt.Errorf("dial the host on broker ID %d: %w", req.GetBrokerId(), err))
	}
	setter.SetHost(&hostClient{c: probespb.NewHostClient(conn)})
	s.mu.Lock()
	old := s.hostConn
	s.hostConn = conn
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return &probespb.SetHostResponse{}, nil
}

func (s *server) AddContainer(ctx context.Context, req *probespb.AddContainerRequest) (*probespb.AddContainerResponse, error) {
	if err := s.impl.AddContainer(ctx, containerFromProto(req.GetContainer())); err != nil {
		return nil, base.ToStatus(err)
	}
	return &probespb.AddContainerResponse{}, nil
}

func (s *server) RemoveContainer(ctx context.Context, req *probespb.RemoveContainerRequest) (*probespb.RemoveContainerResponse, error) {
	if err := s.impl.RemoveContainer(ctx, req.GetContainerId()); err != nil {
		return nil, base.ToStatus(err)
	}
	return &probespb.RemoveContainerResponse{}, nil
}

func (s *server) Results(_ *probespb.ResultsRequest, stream probespb.Prober_ResultsServer) error {
	ctx := stream.Context()
	ch, err := s.impl.Results(ctx)
	if err != nil {
		return base.ToStatus(err)
	}
	// Headers tell the client the subscription holds (see awaitSubscribed).
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				return nil
			}
			if err := stream.Send(resultToProto(r)); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}
