package apiserver

// Exec and port-forward are relayed to the agent of the pod's node as
// bidirectional streams. The server reads the first message (which names
// the pod), checks the pod the way the Kubernetes API server and kubelet
// do, with their wording, resolves the container, opens the same call on
// the agent and then copies messages both ways unchanged:
//
//   - caller → agent until the caller closes its send side, which is passed
//     on as a close of the agent call's send side (stdin closed, or the
//     forwarded connection half-closed);
//   - agent → caller until the agent ends the call; its status (OK or an
//     error) becomes the caller's.
//
// Authorization is the interceptor's: only system:masters may call these
// (they are not in nodeMethods).

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

// defaultContainerAnnotation names the container exec (and logs) pick when
// none is given.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// Exec runs a command in a container of a pod, relayed to its node's agent.
func (s *Server) Exec(stream apipb.Skiff_ExecServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "BadRequest: exec: the first message must name the pod and command")
	}
	if len(start.Command) == 0 {
		return status.Error(codes.InvalidArgument, "BadRequest: you must specify at least one command for the container")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pod, agent, err := s.podAgent(ctx, start.Namespace, start.Pod)
	if err != nil {
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return status.Errorf(codes.FailedPrecondition, "cannot exec into a container in a completed pod; current phase is %s", pod.Status.Phase)
	}
	name, ok := execContainer(pod, start.Container)
	if !ok {
		return containerNotFound(name)
	}
	start.Container = name
	to, err := agent.Exec(ctx, grpc.ForceCodecV2(relayCodec))
	if err != nil {
		return err
	}
	return relay(stream, to, first)
}

// containerNotFound is kubelet's answer to exec into a container that does
// not exist or does not run.
func containerNotFound(name string) error {
	return status.Errorf(codes.FailedPrecondition, "unable to upgrade connection: container not found (%q)", name)
}

// execContainer resolves the container an exec names: the given one, else
// the default-container annotation, else the first container. It reports
// whether the pod has that container.
func execContainer(pod *corev1.Pod, name string) (string, bool) {
	if name == "" {
		if def := pod.Annotations[defaultContainerAnnotation]; def != "" && podHasContainer(pod, def) {
			return def, true
		}
		if len(pod.Spec.Containers) == 0 {
			return "", false
		}
		return pod.Spec.Containers[0].Name, true
	}
	return name, podHasContainer(pod, name)
}

func podHasContainer(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// PortForward connects the caller to a TCP port of a pod, relayed to its
// node's agent. Each call is one connection.
func (s *Server) PortForward(stream apipb.Skiff_PortForwardServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "BadRequest: port-forward: the first message must name the pod and port")
	}
	if start.Port <= 0 || start.Port > 65535 {
		return status.Errorf(codes.InvalidArgument, "BadRequest: invalid port %d: must be between 1 and 65535", start.Port)
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pod, agent, err := s.podAgent(ctx, start.Namespace, start.Pod)
	if err != nil {
		return err
	}
	if pod.Status.Phase != corev1.PodRunning {
		return status.Errorf(codes.FailedPrecondition, "unable to forward port because pod is not running. Current status=%s", pod.Status.Phase)
	}
	to, err := agent.PortForward(ctx, grpc.ForceCodecV2(relayCodec))
	if err != nil {
		return err
	}
	return relay(stream, to, first)
}

// podAgent reads a pod and connects to the agent of its node.
func (s *Server) podAgent(ctx context.Context, namespace, name string) (*corev1.Pod, apipb.NodeAgentClient, error) {
	_, obj, err := s.objects.get(ctx, api.Pods.Name, namespace, name)
	if err != nil {
		return nil, nil, api.ToGRPC(err)
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return nil, nil, api.ToGRPC(apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
	}
	node, err := s.node(ctx, pod.Spec.NodeName)
	if err != nil {
		return nil, nil, api.ToGRPC(err)
	}
	agent, err := s.agents.client(node)
	if err != nil {
		return nil, nil, api.ToGRPC(apierrors.NewServiceUnavailable(err.Error()))
	}
	return pod, agent, nil
}

// relay sends first (already read from the caller, possibly amended) to the
// agent, then copies both ways until the agent ends the call. The caller
// of relay cancels the agent call's context when it returns, which stops
// the upward copy. Past first, messages pass as the frames they came in
// (see frame).
func relay[Req, Resp any](from grpc.BidiStreamingServer[Req, Resp], to grpc.BidiStreamingClient[Req, Resp], first *Req) error {
	if err := to.Send(first); err != nil {
		return recvError(to, err)
	}
	go func() {
		for {
			var m frame
			if err := from.RecvMsg(&m); err != nil {
				// io.EOF: the caller is done sending; anything else: the
				// call is ending and the deferred cancel ends the agent's.
				if errors.Is(err, io.EOF) {
					_ = to.CloseSend()
				}
				return
			}
			if err := to.SendMsg(&m); err != nil {
				return // the agent ended the call: Recv below reports why
			}
		}
	}()
	for {
		var m frame
		err := to.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := from.SendMsg(&m); err != nil {
			return err
		}
	}
}

// frame is a message relay passes on as the bytes it came in: decoding
// and encoding again would cost a copy and an allocation per message, and
// the API server has no use for the data.
type frame struct{ data mem.BufferSlice }

// frameCodec is the proto codec, except that it passes frames through. The
// API server's gRPC server uses it, and so do its calls that relay.
type frameCodec struct{ encoding.CodecV2 }

var relayCodec = frameCodec{encoding.GetCodecV2(proto.Name)}

func (c frameCodec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*frame); ok {
		data := f.data
		f.data = nil // gRPC frees it once written
		return data, nil
	}
	return c.CodecV2.Marshal(v)
}

func (c frameCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*frame); ok {
		data.Ref() // gRPC frees its own reference when this returns
		f.data = data
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// recvError explains a failed send: gRPC reports why a stream ended on its
// receiving side.
func recvError[Req, Resp any](to grpc.BidiStreamingClient[Req, Resp], sendErr error) error {
	if !errors.Is(sendErr, io.EOF) {
		return sendErr
	}
	for {
		if _, err := to.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
