package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// nodeServer serves NodeAgent to the API server (only: callers must present
// a certificate of the system:masters group).
type nodeServer struct {
	apipb.UnimplementedNodeAgentServer
	a *Agent
}

func (a *Agent) newNodeServer() (*grpc.Server, error) {
	cert, err := a.cfg.ServingCert.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("node %q: agent serving certificate: %w", a.cfg.NodeName, err)
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    a.cfg.CA.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	s := grpc.NewServer(append(base.WindowServerOptions(), grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := onlyAdmins(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := onlyAdmins(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
		grpc.MaxRecvMsgSize(64<<20))...)
	apipb.RegisterNodeAgentServer(s, &nodeServer{a: a})
	return s, nil
}

func onlyAdmins(ctx context.Context) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no peer")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return status.Error(codes.Unauthenticated, "a client certificate is required")
	}
	if !pki.IdentityOf(info.State.VerifiedChains[0][0]).InGroup(pki.GroupAdmins) {
		return status.Error(codes.PermissionDenied, "only the API server may call the node agent")
	}
	return nil
}

// Logs streams a container's log (the previous instance with Previous).
func (s *nodeServer) Logs(req *apipb.LogsRequest, stream apipb.NodeAgent_LogsServer) error {
	ctx := stream.Context()
	pod, err := s.a.podByName(ctx, req.Namespace, req.Pod)
	if err != nil {
		return api.ToGRPC(err)
	}
	rt, err := s.a.runtime()
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	container, err := defaultContainer(pod, req.Container)
	if err != nil {
		return err
	}
	inst, err := s.a.findInstance(ctx, rt, pod, container, req.Previous)
	if err != nil {
		return err
	}
	r, err := rt.ContainerLogs(ctx, inst.ID, runtime.LogOptions{Follow: req.Follow, TailLines: req.TailLines, Timestamps: req.Timestamps})
	if err != nil {
		return status.Error(codes.Internal, fmt.Sprintf("container %q in pod %q: logs: %v", req.Container, req.Pod, err))
	}
	defer r.Close()
	buf := make([]byte, base.StreamChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if serr := stream.Send(&apipb.Chunk{Data: append([]byte(nil), buf[:n]...)}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return status.Error(codes.Internal, err.Error())
		}
	}
}

// defaultContainer picks the container a request names, or the pod's only
// (or annotated default) container, with kubectl's error otherwise.
func defaultContainer(pod *corev1.Pod, name string) (string, error) {
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	if name != "" {
		for _, c := range all {
			if c.Name == name {
				return name, nil
			}
		}
		return "", status.Errorf(codes.InvalidArgument, "BadRequest: container %s is not valid for pod %s", name, pod.Name)
	}
	if d := pod.Annotations["kubectl.kubernetes.io/default-container"]; d != "" {
		return d, nil
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	return "", status.Errorf(codes.InvalidArgument, "BadRequest: a container name must be specified for pod %s, choose one of: %v", pod.Name, names)
}

// findInstance picks the runtime container behind a pod container name.
func (a *Agent) findInstance(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, container string, previous bool) (*runtime.ContainerStatus, error) {
	cs, err := rt.ListContainers(ctx, map[string]string{LabelPodUID: string(pod.UID), LabelContainer: container})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	is := groupInstances(cs)[container]
	inst := is.latest()
	if previous {
		inst = is.previous()
		if inst == nil {
			return nil, status.Errorf(codes.InvalidArgument, "BadRequest: previous terminated container %q in pod %q not found", container, pod.Name)
		}
	}
	if inst == nil {
		return nil, status.Errorf(codes.InvalidArgument, "BadRequest: container %q in pod %q is waiting to start: %s", container, pod.Name, waitingReason(pod, container))
	}
	return inst, nil
}

func waitingReason(pod *corev1.Pod, container string) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name == container && cs.State.Waiting != nil {
			return cs.State.Waiting.Reason
		}
	}
	return "ContainerCreating"
}

// LoadImages imports an image archive into this node's runtime.
func (s *nodeServer) LoadImages(stream apipb.NodeAgent_LoadImagesServer) error {
	rt, err := s.a.runtime()
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	pr, pw := io.Pipe()
	go func() {
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(chunk.Data); err != nil {
				return
			}
		}
	}()
	images, err := rt.ImportImages(stream.Context(), pr)
	pr.Close()
	resp := &apipb.ImagesResponse{}
	if err != nil {
		resp.Errors = append(resp.Errors, err.Error())
	}
	for _, img := range images {
		resp.Images = append(resp.Images, &apipb.Image{Node: s.a.cfg.NodeName, Ref: img.Ref, Id: img.ID, Size: img.Size})
	}
	return stream.SendAndClose(resp)
}

// ListImages lists this node's images.
func (s *nodeServer) ListImages(ctx context.Context, _ *apipb.ListImagesRequest) (*apipb.ImagesResponse, error) {
	rt, err := s.a.runtime()
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	images, err := rt.ListImages(ctx)
	if err != nil {
		return nil, status.Error(codes.Internal, base.ToStatus(err).Error())
	}
	resp := &apipb.ImagesResponse{}
	for _, img := range images {
		resp.Images = append(resp.Images, &apipb.Image{Node: s.a.cfg.NodeName, Ref: img.Ref, Id: img.ID, Size: img.Size})
	}
	return resp, nil
}
