package volumes

import (
	"context"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes/volumespb"
)

// server is the plugin's side: it serves skiff.volumes.v1.Volumes by
// calling the implementation.
type server struct {
	volumespb.UnimplementedVolumesServer
	impl Volumes
}

func (s *server) Prepare(ctx context.Context, req *volumespb.PrepareRequest) (*volumespb.PrepareResponse, error) {
	ms, err := s.impl.Prepare(ctx, podFromProto(req.GetPod()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &volumespb.PrepareResponse{Mounted: mountedToProto(ms)}, nil
}

func (s *server) PrepareSubPath(ctx context.Context, req *volumespb.PrepareSubPathRequest) (*volumespb.PrepareSubPathResponse, error) {
	p, err := s.impl.PrepareSubPath(ctx, subPathFromProto(req.GetSubPath()))
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &volumespb.PrepareSubPathResponse{HostPath: p}, nil
}

func (s *server) Teardown(ctx context.Context, req *volumespb.TeardownRequest) (*volumespb.TeardownResponse, error) {
	if err := s.impl.Teardown(ctx, req.GetPodUid()); err != nil {
		return nil, base.ToStatus(err)
	}
	return &volumespb.TeardownResponse{}, nil
}
