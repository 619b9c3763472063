// Package client is the Go client of the skiff API, used by skiffctl and by
// the node agents.
package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/sdk/base"
)

// Client talks to one skiff API server.
type Client struct {
	conn *grpc.ClientConn
	API  apipb.SkiffClient
	// Namespace is the default namespace of the context.
	Namespace string
}

// reconnect is how often a lost connection to the server is dialled
// again. gRPC's default backoff grows to two minutes, and until the next
// attempt every call fails at once with the last dial error: an agent would
// stay cut off long after a restarted server is back. client-go dials per
// request; attempts at most about 5 s apart (4 s, plus gRPC's jitter of up
// to a fifth) come close to that.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 4 * time.Second},
	MinConnectTimeout: 20 * time.Second,
}

// New connects to the server of a resolved client config context.
func New(r clientconfig.Resolved) (*Client, error) {
	tlsCfg, err := r.TLSConfig()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(r.Cluster.Server, append(base.WindowDialOptions(),
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithConnectParams(reconnect),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", r.Cluster.Server, err)
	}
	ns := r.Context.Namespace
	if ns == "" {
		ns = "default"
	}
	return &Client{conn: conn, API: apipb.NewSkiffClient(conn), Namespace: ns}, nil
}

// NewFromConn wraps an established connection, for tests and in-process
// callers that dial the server themselves. Close closes conn.
func NewFromConn(conn *grpc.ClientConn, namespace string) *Client {
	if namespace == "" {
		namespace = "default"
	}
	return &Client{conn: conn, API: apipb.NewSkiffClient(conn), Namespace: namespace}
}

// FromFile loads a client config (path resolved as skiffctl does) and connects
// with its current context, or with contextName when given.
func FromFile(path, contextName string) (*Client, error) {
	p, err := clientconfig.ResolvePath(path)
	if err != nil {
		return nil, err
	}
	cfg, err := clientconfig.Load(p)
	if err != nil {
		return nil, err
	}
	r, err := cfg.Current(contextName)
	if err != nil {
		return nil, fmt.Errorf("client config %s: %w", p, err)
	}
	return New(r)
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Create stores obj and decodes the stored object back into it.
func (c *Client) Create(ctx context.Context, res api.Resource, ns string, obj any) error {
	return c.create(ctx, res, ns, obj, false)
}

// CreateDryRun validates and defaults obj on the server without storing it.
func (c *Client) CreateDryRun(ctx context.Context, res api.Resource, ns string, obj any) error {
	return c.create(ctx, res, ns, obj, true)
}

func (c *Client) create(ctx context.Context, res api.Resource, ns string, obj any, dryRun bool) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", res.Kind, err)
	}
	out, err := c.API.Create(ctx, &apipb.CreateRequest{Resource: res.Name, Namespace: ns, Json: body, DryRun: dryRun})
	if err != nil {
		return api.FromGRPC(err)
	}
	return json.Unmarshal(out.Json, obj)
}

// Get reads one object into into.
func (c *Client) Get(ctx context.Context, res api.Resource, ns, name string, into any) error {
	out, err := c.API.Get(ctx, &apipb.GetRequest{Resource: res.Name, Namespace: ns, Name: name})
	if err != nil {
		return api.FromGRPC(err)
	}
	return json.Unmarshal(out.Json, into)
}

// GetRaw reads one object as JSON.
func (c *Client) GetRaw(ctx context.Context, res api.Resource, ns, name string) ([]byte, error) {
	out, err := c.API.Get(ctx, &apipb.GetRequest{Resource: res.Name, Namespace: ns, Name: name})
	if err != nil {
		return nil, api.FromGRPC(err)
	}
	return out.Json, nil
}

// ListOptions filter a List or Watch.
type ListOptions struct {
	LabelSelector string
	FieldSelector string
}

// ListRaw lists objects as JSON and returns the revision of the listing.
func (c *Client) ListRaw(ctx context.Context, res api.Resource, ns string, opts ListOptions) ([][]byte, int64, error) {
	out, err := c.API.List(ctx, &apipb.ListRequest{Resource: res.Name, Namespace: ns, LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector})
	if err != nil {
		return nil, 0, api.FromGRPC(err)
	}
	items := make([][]byte, len(out.Items))
	for i, it := range out.Items {
		items[i] = it.Json
	}
	return items, out.ResourceVersion, nil
}

// List lists objects decoded as T.
func List[T any](ctx context.Context, c *Client, res api.Resource, ns string, opts ListOptions) ([]T, int64, error) {
	raw, rv, err := c.ListRaw(ctx, res, ns, opts)
	if err != nil {
		return nil, 0, err
	}
	items := make([]T, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &items[i]); err != nil {
			return nil, 0, fmt.Errorf("decode %s: %w", res.Kind, err)
		}
	}
	return items, rv, nil
}

// Update stores obj (compare-and-swap on its resourceVersion) and decodes
// the result back into it. subresource "status" updates only the status.
func (c *Client) Update(ctx context.Context, res api.Resource, ns string, obj any, subresource string) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", res.Kind, err)
	}
	out, err := c.API.Update(ctx, &apipb.UpdateRequest{Resource: res.Name, Namespace: ns, Json: body, Subresource: subresource})
	if err != nil {
		return api.FromGRPC(err)
	}
	return json.Unmarshal(out.Json, obj)
}

// DeleteOptions tune Delete. GracePeriodSeconds < 0 uses the object's own.
type DeleteOptions struct {
	GracePeriodSeconds int64
	Force              bool
	// PreconditionUID deletes only the object with this UID (Kubernetes'
	// preconditions.uid): a different object under the name is a Conflict.
	PreconditionUID string
}

// Delete deletes an object and returns it as the server last had it.
func (c *Client) Delete(ctx context.Context, res api.Resource, ns, name string, opts DeleteOptions) ([]byte, error) {
	out, err := c.API.Delete(ctx, &apipb.DeleteRequest{Resource: res.Name, Namespace: ns, Name: name, GracePeriodSeconds: opts.GracePeriodSeconds, Force: opts.Force, PreconditionUid: opts.PreconditionUID})
	if err != nil {
		return nil, api.FromGRPC(err)
	}
	return out.Json, nil
}

// Event is one watch event.
type Event struct {
	Type   string // ADDED, MODIFIED, DELETED
	Object []byte
}

// Watch streams changes after resourceVersion (0: the current state first as
// ADDED events). The channel closes when ctx ends or the stream fails; the
// error, if any, is then sent on errc.
func (c *Client) Watch(ctx context.Context, res api.Resource, ns string, opts ListOptions, resourceVersion int64) (<-chan Event, <-chan error, error) {
	stream, err := c.API.Watch(ctx, &apipb.WatchRequest{Resource: res.Name, Namespace: ns, LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector, ResourceVersion: resourceVersion})
	if err != nil {
		return nil, nil, api.FromGRPC(err)
	}
	events := make(chan Event, 64)
	errc := make(chan error, 1)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				if err != io.EOF && ctx.Err() == nil {
					errc <- api.FromGRPC(err)
				}
				close(errc)
				return
			}
			var obj []byte
			if ev.Object != nil {
				obj = ev.Object.Json
			}
			select {
			case events <- Event{Type: ev.Type, Object: obj}:
			case <-ctx.Done():
				close(errc)
				return
			}
		}
	}()
	return events, errc, nil
}

// Logs streams a container's log to w.
func (c *Client) Logs(ctx context.Context, req *apipb.LogsRequest, w io.Writer) error {
	stream, err := c.API.Logs(ctx, req)
	if err != nil {
		return api.FromGRPC(err)
	}
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return api.FromGRPC(err)
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return err
		}
	}
}
