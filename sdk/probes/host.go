package probes

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes/probespb"
)

// hostServer runs on the core's side, behind the broker: it serves
// skiff.probes.v1.Host with the core's Host.
type hostServer struct {
	probespb.UnimplementedHostServer
	impl Host
}

func (s *hostServer) Exec(ctx context.Context, req *probespb.ExecRequest) (*probespb.ExecResponse, error) {
	code, out, err := s.impl.Exec(ctx, req.GetContainerId(), req.GetCmd(), req.GetTimeout().AsDuration())
	if err != nil {
		return nil, base.ToStatus(err)
	}
	return &probespb.ExecResponse{ExitCode: int32(code), Output: out}, nil
}

// hostClient is the Host a plugin is handed: it calls the core through the
// broker.
type hostClient struct {
	c probespb.HostClient
}

var _ Host = (*hostClient)(nil)

func (h *hostClient) Exec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (int, []byte, error) {
	resp, err := h.c.Exec(ctx, &probespb.ExecRequest{ContainerId: containerID, Cmd: cmd, Timeout: durationpb.New(timeout)})
	if err != nil {
		return 0, nil, base.FromStatus(err)
	}
	return int(resp.GetExitCode()), resp.GetOutput(), nil
}
