package probes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes/probespb"
)

// client is the host's side of a probes plugin: it implements Prober over
// gRPC and serves the host's Host back to the plugin.
type client struct {
	*base.PluginClient
	c      probespb.ProberClient
	broker *plugin.GRPCBroker
	host   Host

	mu sync.Mutex
	// hostID is the broker ID the Host is served on, 0 until it is.
	hostID uint32
	// hostSet is true once the plugin has accepted the Host.
	hostSet bool
}

var _ Prober = (*client)(nil)

func newClient(conn grpc.ClientConnInterface, broker *plugin.GRPCBroker, host Host) *client {
	return &client{
		PluginClient: base.NewPluginClient(conn),
		c:            probespb.NewProberClient(conn),
		broker:       broker,
		host:         host,
	}
}

// ensureHost hands the Host to the plugin once, before the first
// AddContainer. The Host is served on the broker on the first try only; a
// failed SetHost is retried on the next AddContainer.
func (c *client) ensureHost(ctx context.Context) error {
	if c.host == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hostSet {
		return nil
	}
	if c.hostID == 0 {
		c.hostID = c.broker.NextId()
		go c.broker.AcceptAndServe(c.hostID, c.newHostServer)
	}
	if _, err := c.c.SetHost(ctx, &probespb.SetHostRequest{BrokerId: c.hostID}); err != nil {
		return fmt.Errorf("hand the host to the probes plugin: %w", base.FromStatus(err))
	}
	c.hostSet = true
	return nil
}

func (c *client) newHostServer(opts []grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(opts...)
	probespb.RegisterHostServer(s, &hostServer{impl: c.host})
	return s
}

func (c *client) AddContainer(ctx context.Context, ctr Container) error {
	if err := c.ensureHost(ctx); err != nil {
		return fmt.Errorf("container %q: %w", ctr.ContainerID, err)
	}
	_, err := c.c.AddContainer(ctx, &probespb.AddContainerRequest{Container: containerToProto(ctr)})
	return base.FromStatus(err)
}

func (c *client) RemoveContainer(ctx context.Context, containerID string) error {
	_, err := c.c.RemoveContainer(ctx, &probespb.RemoveContainerRequest{ContainerId: containerID})
	return base.FromStatus(err)
}

// Results opens the plugin's stream of results. The channel is closed when
// ctx ends, and also when the plugin goes away: call Results again once it
// is back.
func (c *client) Results(ctx context.Context) (<-chan Result, error) {
	stream, err := c.c.Results(ctx, &probespb.ResultsRequest{})
	if err != nil {
		return nil, base.FromStatus(err)
	}
	if err := awaitSubscribed(stream); err != nil {
		return nil, err
	}
	ch := make(chan Result)
	go relayResults(ctx, stream, ch)
	return ch, nil
}

// awaitSubscribed waits for the headers the server sends once the plugin
// has subscribed; a stream that ends without them carries the plugin's
// error.
func awaitSubscribed(stream probespb.Prober_ResultsClient) error {
	md, err := stream.Header()
	if err != nil {
		return base.FromStatus(err)
	}
	if md != nil {
		return nil
	}
	_, err = stream.Recv()
	if err == nil || errors.Is(err, io.EOF) {
		return errors.New("probes plugin ended the results stream before it began")
	}
	return base.FromStatus(err)
}

func relayResults(ctx context.Context, stream probespb.Prober_ResultsClient, ch chan<- Result) {
	defer close(ch)
	for {
		r, err := stream.Recv()
		if err != nil {
			return
		}
		select {
		case ch <- resultFromProto(r):
		case <-ctx.Done():
			return
		}
	}
}
