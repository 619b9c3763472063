package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/runtime/fake"
)

// streamNode serves the agent's Exec and PortForward over a fake runtime.
type streamNode struct {
	apipb.UnimplementedNodeAgentServer
	s *streams
}

func (n *streamNode) Exec(st apipb.NodeAgent_ExecServer) error { return n.s.exec(st) }

func (n *streamNode) PortForward(st apipb.NodeAgent_PortForwardServer) error {
	return n.s.portForward(st)
}

var streamPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-web"},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
}

// instance is a runtime container of streamPod.
func instance(id, container string, attempt int, state runtime.ContainerState) runtime.ContainerStatus {
	return runtime.ContainerStatus{ID: id, State: state, Labels: map[string]string{
		LabelPodUID: "uid-web", LabelContainer: container, LabelAttempt: fmt.Sprint(attempt),
	}}
}

// startNode serves rt for streamPod and returns a client of it.
func startNode(t *testing.T, rt *fake.Runtime) apipb.NodeAgentClient {
	t.Helper()
	if rt.ListContainersFunc == nil {
		rt.ListContainersFunc = func(_ context.Context, labels map[string]string) ([]runtime.ContainerStatus, error) {
			all := []runtime.ContainerStatus{
				instance("app-0", "app", 0, runtime.StateExited),
				instance("app-1", "app", 1, runtime.StateRunning),
				instance("sidecar-0", "sidecar", 0, runtime.StateExited),
			}
			var out []runtime.ContainerStatus
			for _, c := range all {
				if c.Labels[LabelPodUID] == labels[LabelPodUID] && c.Labels[LabelContainer] == labels[LabelContainer] {
					out = append(out, c)
				}
			}
			return out, nil
		}
	}
	s := &streams{
		getPod: func(_ context.Context, ns, name string) (*corev1.Pod, error) {
			if ns != "default" || name != "web" {
				return nil, status.Errorf(codes.NotFound, "pods %q not found", name)
			}
			return streamPod.DeepCopy(), nil
		},
		runtime: func() (runtime.Runtime, error) { return rt, nil },
	}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apipb.RegisterNodeAgentServer(gs, &streamNode{s: s})
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); gs.Stop() })
	return apipb.NewNodeAgentClient(conn)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// execResult is everything an Exec call answered.
type execResult struct {
	stdout, stderr string
	exit           *apipb.ExecExit
	err            error
}

func receiveExec(call apipb.NodeAgent_ExecClient) execResult {
	var r execResult
	var out, errOut bytes.Buffer
	for {
		m, err := call.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			r.stdout, r.stderr = out.String(), errOut.String()
			return r
		}
		switch m := m.Msg.(type) {
		case *apipb.ExecResponse_Stdout:
			out.Write(m.Stdout)
		case *apipb.ExecResponse_Stderr:
			errOut.Write(m.Stderr)
		case *apipb.ExecResponse_Exit:
			r.exit = m.Exit
		}
	}
}

func execStart(start *apipb.ExecStart) *apipb.ExecRequest {
	return &apipb.ExecRequest{Msg: &apipb.ExecRequest_Start{Start: start}}
}

func TestExecRunsInTheRunningInstance(t *testing.T) {
	input := strings.Repeat("some input\n", 20000) // several chunks
	rt := &fake.Runtime{ExecFunc: func(_ context.Context, id string, opts runtime.ExecOptions) (int, error) {
		if id != "app-1" || strings.Join(opts.Cmd, " ") != "cat -" || opts.TTY || opts.Stdin == nil {
			return 0, fmt.Errorf("exec %s %v tty=%v stdin=%v", id, opts.Cmd, opts.TTY, opts.Stdin != nil)
		}
		in, err := io.ReadAll(opts.Stdin)
		if err != nil {
			return 0, err
		}
		fmt.Fprint(opts.Stdout, strings.ToUpper(string(in)))
		fmt.Fprint(opts.Stderr, "to stderr\n")
		return 3, nil
	}}
	agent := startNode(t, rt)
	call, err := agent.Exec(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(execStart(&apipb.ExecStart{Namespace: "default", Pod: "web", Command: []string{"cat", "-"}, Stdin: true}))
	for i := 0; i < len(input); i += 1000 {
		_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Stdin{Stdin: []byte(input[i:min(i+1000, len(input))])}})
	}
	_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_StdinClose{StdinClose: true}})
	r := receiveExec(call)
	if r.err != nil || r.exit.GetExitCode() != 3 || r.stdout != strings.ToUpper(input) || r.stderr != "to stderr\n" {
		t.Errorf("exec = err %v, exit %v, %d bytes out, stderr %q", r.err, r.exit, len(r.stdout), r.stderr)
	}
}

func TestExecWithTTYGetsSizes(t *testing.T) {
	rt := &fake.Runtime{ExecFunc: func(ctx context.Context, _ string, opts runtime.ExecOptions) (int, error) {
		var sizes []string
		for len(sizes) < 2 {
			select {
			case sz := <-opts.Resize:
				sizes = append(sizes, fmt.Sprintf("%dx%d", sz.Width, sz.Height))
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		fmt.Fprint(opts.Stdout, strings.Join(sizes, " "))
		return 0, nil
	}}
	agent := startNode(t, rt)
	call, err := agent.Exec(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(execStart(&apipb.ExecStart{Namespace: "default", Pod: "web", Container: "app", Command: []string{"sh"},
		Tty: true, Stdin: true, InitialSize: &apipb.TermSize{Width: 80, Height: 24}}))
	_ = call.Send(&apipb.ExecRequest{Msg: &apipb.ExecRequest_Resize{Resize: &apipb.TermSize{Width: 100, Height: 40}}})
	r := receiveExec(call)
	if r.err != nil || r.exit.GetExitCode() != 0 || r.stdout != "80x24 100x40" {
		t.Errorf("exec = err %v, exit %v, stdout %q; want the initial size then the resize", r.err, r.exit, r.stdout)
	}
}

func TestExecErrors(t *testing.T) {
	const oci = `OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`
	var execErr error
	rt := &fake.Runtime{ExecFunc: func(context.Context, string, runtime.ExecOptions) (int, error) { return 0, execErr }}
	agent := startNode(t, rt)
	run := func(container string) execResult {
		call, err := agent.Exec(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		_ = call.Send(execStart(&apipb.ExecStart{Namespace: "default", Pod: "web", Container: container, Command: []string{"nope"}}))
		_ = call.CloseSend()
		return receiveExec(call)
	}

	// A command that cannot start ends with 126 and the runtime's words.
	execErr = fmt.Errorf(`exec ["nope"] in container "app-1": %s`, oci)
	if r := run("app"); r.err != nil || r.exit.GetExitCode() != 126 || r.exit.GetError() != oci {
		t.Errorf("not started: err %v, exit %v", r.err, r.exit)
	}
	// No running instance, or it stopped meanwhile: kubelet's answer.
	want := `rpc error: code = FailedPrecondition desc = unable to upgrade connection: container not found ("sidecar")`
	if r := run("sidecar"); r.err == nil || r.err.Error() != want {
		t.Errorf("exited container: %v, want %s", r.err, want)
	}
	execErr = fmt.Errorf("task is stopped: %w", runtime.ErrContainerNotRunning)
	want = `rpc error: code = FailedPrecondition desc = unable to upgrade connection: container not found ("app")`
	if r := run("app"); r.err == nil || r.err.Error() != want {
		t.Errorf("stopped meanwhile: %v, want %s", r.err, want)
	}
	execErr = errors.New("shim gone")
	if r := run("app"); status.Code(r.err) != codes.Internal || !strings.Contains(r.err.Error(), "shim gone") {
		t.Errorf("other failure: %v", r.err)
	}
}

func TestPortForwardHalfCloses(t *testing.T) {
	rt := &fake.Runtime{
		ListSandboxesFunc: func(_ context.Context, labels map[string]string) ([]runtime.Sandbox, error) {
			if labels[LabelPodUID] != "uid-web" {
				return nil, nil
			}
			return []runtime.Sandbox{{ID: "sb-old", CreatedAt: time.Unix(1, 0)}, {ID: "sb-web", CreatedAt: time.Unix(2, 0)}}, nil
		},
		PortForwardFunc: func(_ context.Context, sandboxID string, port int, stream io.ReadWriter) error {
			if sandboxID != "sb-web" || port != 8080 {
				return fmt.Errorf("sandbox %s port %d: %w", sandboxID, port, runtime.ErrPortForward)
			}
			in, err := io.ReadAll(stream) // to the caller's half-close
			if err != nil {
				return err
			}
			if _, err := stream.Write(bytes.ToUpper(in)); err != nil {
				return err
			}
			return stream.(runtime.CloseWriter).CloseWrite()
		},
	}
	agent := startNode(t, rt)
	call, err := agent.PortForward(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Start{Start: &apipb.PortForwardStart{Namespace: "default", Pod: "web", Port: 8080}}})
	msg := strings.Repeat("request ", 10000)
	_ = call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Data{Data: []byte(msg)}})
	_ = call.CloseSend()
	var got bytes.Buffer
	closed := false
	for {
		m, err := call.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if closed {
			t.Error("data after close_write")
		}
		got.Write(m.GetData())
		closed = closed || m.GetCloseWrite()
	}
	if got.String() != strings.ToUpper(msg) || !closed {
		t.Errorf("got %d bytes (close_write %v), want %d upper-cased and a close_write", got.Len(), closed, len(msg))
	}

	// A refused port ends the call with the runtime's error.
	call, err = agent.PortForward(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Start{Start: &apipb.PortForwardStart{Namespace: "default", Pod: "web", Port: 9}}})
	_, err = call.Recv()
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "error forwarding port 9 to pod web") || !strings.Contains(err.Error(), "port forward failed") {
		t.Errorf("refused: %v", err)
	}
}
