package volumes

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes/volumespb"
)

// client is the host's side of a volumes plugin: it implements Volumes
// over gRPC.
type client struct {
	*base.PluginClient
	c volumespb.VolumesClient
}

var _ Volumes = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{PluginClient: base.NewPluginClient(conn), c: volumespb.NewVolumesClient(conn)}
}

func (c *client) Prepare(ctx context.Context, pod Pod) ([]Mounted, error) {
	resp, err := c.c.Prepare(ctx, &volumespb.PrepareRequest{Pod: podToProto(pod)})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	if n := len(resp.GetMounted()); n != len(pod.Volumes) {
		return nil, fmt.Errorf("pod %q in %q: volumes plugin answered %d mounts for %d volumes",
			pod.Name, pod.Namespace, n, len(pod.Volumes))
	}
	return mountedFromProto(resp.GetMounted()), nil
}

func (c *client) PrepareSubPath(ctx context.Context, sp SubPath) (string, error) {
	resp, err := c.c.PrepareSubPath(ctx, &volumespb.PrepareSubPathRequest{SubPath: subPathToProto(sp)})
	if err != nil {
		return "", base.FromStatus(err)
	}
	return resp.GetHostPath(), nil
}

func (c *client) Teardown(ctx context.Context, podUID string) error {
	_, err := c.c.Teardown(ctx, &volumespb.TeardownRequest{PodUid: podUID})
	return base.FromStatus(err)
}
