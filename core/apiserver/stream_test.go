package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
)

// fakeAgent is a node agent whose Exec echoes stdin upper-cased and exits
// 5, and whose PortForward upper-cases what it reads until the caller's
// half-close, then half-closes. It records the starts it got.
type fakeAgent struct {
	apipb.UnimplementedNodeAgentServer
	mu       sync.Mutex
	execs    []*apipb.ExecStart
	forwards []*apipb.PortForwardStart
}

func (a *fakeAgent) record(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f()
}

func (a *fakeAgent) Exec(st apipb.NodeAgent_ExecServer) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	a.record(func() { a.execs = append(a.execs, first.GetStart()) })
	var in bytes.Buffer
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) || m.GetStdinClose() {
			break
		}
		if err != nil {
			return err
		}
		in.Write(m.GetStdin())
	}
	if err := st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Stdout{Stdout: bytes.ToUpper(in.Bytes())}}); err != nil {
		return err
	}
	if err := st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Stderr{Stderr: []byte("warn\n")}}); err != nil {
		return err
	}
	return st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Exit{Exit: &apipb.ExecExit{ExitCode: 5}}})
}

func (a *fakeAgent) PortForward(st apipb.NodeAgent_PortForwardServer) error {
	first, err := st.Recv()
	if err != nil {
		return err
	}
	a.record(func() { a.forwards = append(a.forwards, first.GetStart()) })
	if first.GetStart().GetPort() == 9 {
		return status.Error(codes.Unavailable, "error forwarding port 9 to pod web: connection refused")
	}
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return st.Send(&apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_CloseWrite{CloseWrite: true}})
		}
		if err != nil {
			return err
		}
		if err := st.Send(&apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_Data{Data: bytes.ToUpper(m.GetData())}}); err != nil {
			return err
		}
	}
}

// startFakeAgent serves a fake agent for node n1 (TLS from the cluster CA)
// and registers the node and pods bound to it:
//   - web: running, containers app and sidecar, sidecar the annotated default;
//   - done: Succeeded;
//   - unbound: no node.
func startFakeAgent(t *testing.T, e *env) *fakeAgent {
	t.Helper()
	ctx := context.Background()
	kp, err := e.ca.IssueServer("n1", []string{"n1"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := kp.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: e.ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert,
	})))
	agent := &fakeAgent{}
	apipb.RegisterNodeAgentServer(gs, agent)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	t.Cleanup(gs.Stop)

	node := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if err := e.admin.Create(ctx, api.Nodes, "", node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(lis.Addr().(*net.TCPAddr).Port)
	if err := e.admin.Update(ctx, api.Nodes, "", node, "status"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name, node string
		phase      corev1.PodPhase
	}{{"web", "n1", corev1.PodRunning}, {"done", "n1", corev1.PodSucceeded}, {"unbound", "", corev1.PodPending}} {
		pod := newPod(p.name)
		pod.Spec.NodeName = p.node
		pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "busybox:1"}, {Name: "sidecar", Image: "busybox:1"}}
		pod.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "sidecar"}
		if err := e.admin.Create(ctx, api.Pods, "default", pod); err != nil {
			t.Fatal(err)
		}
		if p.node != "" {
			pod.Status.Phase = p.phase
			if err := e.admin.Update(ctx, api.Pods, "default", pod, "status"); err != nil {
				t.Fatal(err)
			}
		}
	}
	return agent
}

func runExec(ctx context.Context, c apipb.SkiffClient, start *apipb.ExecStart, stdin string) (stdout, stderr string, exit *apipb.ExecExit, err error) {
	call, err := c.Exec(ctx)
	if err != nil {
		return "", "", nil, err
	}
	_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Start{Start: start}})
	if start.Stdin {
		_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Stdin{Stdin: []byte(stdin)}})
		_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_StdinClose{StdinClose: true}})
	} else {
		_ = call.CloseSend()
	}
	var out, errOut bytes.Buffer
	for {
		m, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return out.String(), errOut.String(), exit, nil
		}
		if err != nil {
			return out.String(), errOut.String(), exit, err
		}
		out.Write(m.GetStdout())
		errOut.Write(m.GetStderr())
		if m.GetExit() != nil {
			exit = m.GetExit()
		}
	}
}

func TestExecIsRelayedToTheNode(t *testing.T) {
	e := start(t)
	agent := startFakeAgent(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	out, errOut, exit, err := runExec(ctx, e.admin.API, &apipb.ExecStart{Namespace: "default", Pod: "web", Command: []string{"cat"}, Stdin: true}, "hello")
	if err != nil || out != "HELLO" || errOut != "warn\n" || exit.GetExitCode() != 5 {
		t.Errorf("exec = %q, %q, %v, %v; want HELLO, warn, exit 5", out, errOut, exit, err)
	}
	agent.mu.Lock()
	got := agent.execs[len(agent.execs)-1]
	agent.mu.Unlock()
	if got.Container != "sidecar" || got.Pod != "web" || strings.Join(got.Command, " ") != "cat" || !got.Stdin {
		t.Errorf("the agent got %v; want the annotated default container", got)
	}
	if _, _, exit, err := runExec(ctx, e.admin.API, &apipb.ExecStart{Namespace: "default", Pod: "web", Container: "app", Command: []string{"true"}}, ""); err != nil || exit.GetExitCode() != 5 {
		t.Errorf("exec -c app: %v, %v", exit, err)
	}

	for _, tc := range []struct {
		start *apipb.ExecStart
		code  codes.Code
		msg   string
	}{
		{&apipb.ExecStart{Namespace: "default", Pod: "web", Container: "nope", Command: []string{"true"}},
			codes.FailedPrecondition, `unable to upgrade connection: container not found ("nope")`},
		{&apipb.ExecStart{Namespace: "default", Pod: "done", Command: []string{"true"}},
			codes.FailedPrecondition, "cannot exec into a container in a completed pod; current phase is Succeeded"},
		{&apipb.ExecStart{Namespace: "default", Pod: "unbound", Command: []string{"true"}},
			codes.InvalidArgument, "BadRequest: pod unbound does not have a host assigned"},
		{&apipb.ExecStart{Namespace: "default", Pod: "ghost", Command: []string{"true"}},
			codes.NotFound, `pods "ghost" not found`},
		{&apipb.ExecStart{Namespace: "default", Pod: "web"},
			codes.InvalidArgument, "BadRequest: you must specify at least one command for the container"},
	} {
		_, _, _, err := runExec(ctx, e.admin.API, tc.start, "")
		if st, _ := status.FromError(err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("exec %v: %v; want %v %q", tc.start, err, tc.code, tc.msg)
		}
	}

	// Nodes may use the object verbs, but not exec.
	node := e.clientAs(t, "system:node:n1", pki.GroupNodes)
	_, _, _, err = runExec(ctx, node.API, &apipb.ExecStart{Namespace: "default", Pod: "web", Command: []string{"true"}}, "")
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("node exec: %v, want PermissionDenied", err)
	}
	nobody := e.clientAs(t, "nobody")
	_, _, _, err = runExec(ctx, nobody.API, &apipb.ExecStart{Namespace: "default", Pod: "web", Command: []string{"true"}}, "")
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("roleless exec: %v, want PermissionDenied", err)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.execs) != 2 {
		t.Errorf("the agent got %d execs, want the 2 allowed ones", len(agent.execs))
	}
}

func forward(ctx context.Context, c apipb.SkiffClient, pod string, port int32, data string) (string, bool, error) {
	call, err := c.PortForward(ctx)
	if err != nil {
		return "", false, err
	}
	_ = call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Start{Start: &apipb.PortForwardStart{Namespace: "default", Pod: pod, Port: port}}})
	_ = call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Data{Data: []byte(data)}})
	_ = call.CloseSend()
	var got bytes.Buffer
	closed := false
	for {
		m, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return got.String(), closed, nil
		}
		if err != nil {
			return got.String(), closed, err
		}
		got.Write(m.GetData())
		closed = closed || m.GetCloseWrite()
	}
}

func TestPortForwardIsRelayedToTheNode(t *testing.T) {
	e := start(t)
	agent := startFakeAgent(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	data := strings.Repeat("GET / HTTP/1.0\r\n\r\n", 5000)
	got, closed, err := forward(ctx, e.admin.API, "web", 8080, data)
	if err != nil || got != strings.ToUpper(data) || !closed {
		t.Errorf("forward = %d bytes, close_write %v, %v; want %d bytes and a close_write", len(got), closed, err, len(data))
	}
	if _, _, err := forward(ctx, e.admin.API, "web", 9, "x"); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused port: %v", err)
	}
	for _, tc := range []struct {
		pod  string
		port int32
		code codes.Code
		msg  string
	}{
		{"done", 80, codes.FailedPrecondition, "unable to forward port because pod is not running. Current status=Succeeded"},
		{"ghost", 80, codes.NotFound, `pods "ghost" not found`},
		{"web", 0, codes.InvalidArgument, "BadRequest: invalid port 0: must be between 1 and 65535"},
	} {
		_, _, err := forward(ctx, e.admin.API, tc.pod, tc.port, "")
		if st, _ := status.FromError(err); st.Code() != tc.code || st.Message() != tc.msg {
			t.Errorf("forward to %s:%d: %v; want %v %q", tc.pod, tc.port, err, tc.code, tc.msg)
		}
	}
	node := e.clientAs(t, "system:node:n1", pki.GroupNodes)
	if _, _, err := forward(ctx, node.API, "web", 8080, "x"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("node port-forward: %v, want PermissionDenied", err)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.forwards) != 2 || agent.forwards[0].Port != 8080 || agent.forwards[0].Pod != "web" {
		t.Errorf("the agent got %v, want the 2 allowed forwards", agent.forwards)
	}
}
