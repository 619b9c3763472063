package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/sdk/base"
)

// agentDialer keeps one connection per node agent.
type agentDialer struct {
	tls   *tls.Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by address
}

func newAgentDialer(cfg *tls.Config) *agentDialer {
	return &agentDialer{tls: cfg, conns: map[string]*grpc.ClientConn{}}
}

// AgentAddress is where a node's agent serves NodeAgent: its InternalIP and
// the kubelet endpoint port it registered.
func AgentAddress(node *corev1.Node) (string, error) {
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && port > 0 {
			return net.JoinHostPort(a.Address, strconv.Itoa(int(port))), nil
		}
	}
	return "", fmt.Errorf("node %q has not registered an agent address", node.Name)
}

func (d *agentDialer) client(node *corev1.Node) (apipb.NodeAgentClient, error) {
	addr, err := AgentAddress(node)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.conns[addr]; ok {
		return apipb.NewNodeAgentClient(c), nil
	}
	cfg := d.tls.Clone()
	cfg.ServerName = node.Name
	conn, err := grpc.NewClient(addr, append(base.WindowDialOptions(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, fmt.Errorf("node %q agent at %s: %w", node.Name, addr, err)
	}
	d.conns[addr] = conn
	return apipb.NewNodeAgentClient(conn), nil
}

func (d *agentDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = map[string]*grpc.ClientConn{}
}

func forbidden(msg string) error {
	return apierrors.NewForbidden(api.Nodes.GroupResource(), "", errors.New(msg))
}

func (s *Server) node(ctx context.Context, name string) (*corev1.Node, error) {
	_, obj, err := s.objects.get(ctx, api.Nodes.Name, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}

// Logs relays a container's log from the agent of the pod's node.
func (s *Server) Logs(req *apipb.LogsRequest, stream apipb.Skiff_LogsServer) error {
	ctx := stream.Context()
	_, obj, err := s.objects.get(ctx, api.Pods.Name, req.Namespace, req.Pod)
	if err != nil {
		return api.ToGRPC(err)
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return api.ToGRPC(apierrors.NewBadRequest(fmt.Sprintf("pod %q in %q is not scheduled to a node yet", pod.Name, pod.Namespace)))
	}
	node, err := s.node(ctx, pod.Spec.NodeName)
	if err != nil {
		return api.ToGRPC(err)
	}
	agent, err := s.agents.client(node)
	if err != nil {
		return api.ToGRPC(apierrors.NewServiceUnavailable(err.Error()))
	}
	from, err := agent.Logs(ctx, req)
	if err != nil {
		return err
	}
	for {
		chunk, err := from.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(chunk); err != nil {
			return err
		}
	}
}

func (s *Server) readyNodes(ctx context.Context, only string) ([]*corev1.Node, error) {
	objs, _, err := s.objects.list(ctx, &apipb.ListRequest{Resource: api.Nodes.Name})
	if err != nil {
		return nil, err
	}
	var nodes []*corev1.Node
	for _, o := range objs {
		n := o.(*corev1.Node)
		if only == "" || n.Name == only {
			nodes = append(nodes, n)
		}
	}
	if only != "" && len(nodes) == 0 {
		return nil, apierrors.NewNotFound(api.Nodes.GroupResource(), only)
	}
	return nodes, nil
}

// LoadImages spools the uploaded archive to a temporary file, then loads it
// into the runtime of every node (or of the one named in the first chunk).
func (s *Server) LoadImages(stream apipb.Skiff_LoadImagesServer) error {
	ctx := stream.Context()
	spool, err := os.CreateTemp("", "skiff-image-*.tar")
	if err != nil {
		return api.ToGRPC(fmt.Errorf("spool image archive: %w", err))
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	only, err := receiveArchive(stream, spool)
	if err != nil {
		return err
	}
	nodes, err := s.readyNodes(ctx, only)
	if err != nil {
		return api.ToGRPC(err)
	}
	resp := &apipb.ImagesResponse{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range nodes {
		g.Go(func() error {
			images, err := s.loadOnNode(gctx, n, spool.Name())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				resp.Errors = append(resp.Errors, fmt.Sprintf("%s: %v", n.Name, err))
				return nil
			}
			resp.Images = append(resp.Images, images...)
			return nil
		})
	}
	_ = g.Wait()
	return stream.SendAndClose(resp)
}

func receiveArchive(stream apipb.Skiff_LoadImagesServer, w io.Writer) (string, error) {
	only, first := "", true
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return only, nil
		}
		if err != nil {
			return "", err
		}
		if first {
			only, first = chunk.Node, false
		}
		if _, err := w.Write(chunk.Data); err != nil {
			return "", api.ToGRPC(fmt.Errorf("spool image archive: %w", err))
		}
	}
}

const imageChunkSize = 1 << 20

func (s *Server) loadOnNode(ctx context.Context, node *corev1.Node, path string) ([]*apipb.Image, error) {
	agent, err := s.agents.client(node)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	up, err := agent.LoadImages(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, imageChunkSize)
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if err := up.Send(&apipb.ImageChunk{Data: buf[:n]}); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	resp, err := up.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	if len(resp.Errors) > 0 {
		return resp.Images, errors.New(resp.Errors[0])
	}
	return resp.Images, nil
}

// ListImages lists the images of every node.
func (s *Server) ListImages(ctx context.Context, req *apipb.ListImagesRequest) (*apipb.ImagesResponse, error) {
	nodes, err := s.readyNodes(ctx, "")
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	resp := &apipb.ImagesResponse{}
	for _, n := range nodes {
		agent, err := s.agents.client(n)
		if err == nil {
			var r *apipb.ImagesResponse
			if r, err = agent.ListImages(ctx, req); err == nil {
				resp.Images = append(resp.Images, r.Images...)
				continue
			}
		}
		resp.Errors = append(resp.Errors, fmt.Sprintf("%s: %v", n.Name, err))
	}
	return resp, nil
}
