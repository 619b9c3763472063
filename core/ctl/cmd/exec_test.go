package cmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/internal/fakeserver"
)

// streamServer is the fake API server with Exec and PortForward answered
// by the test.
type streamServer struct {
	*fakeserver.Server
	exec        func(apipb.Skiff_ExecServer) error
	portForward func(apipb.Skiff_PortForwardServer) error
}

func (s *streamServer) Exec(st apipb.Skiff_ExecServer) error {
	if s.exec == nil {
		return status.Error(codes.Unimplemented, "no exec in this test")
	}
	return s.exec(st)
}

func (s *streamServer) PortForward(st apipb.Skiff_PortForwardServer) error {
	if s.portForward == nil {
		return status.Error(codes.Unimplemented, "no port-forward in this test")
	}
	return s.portForward(st)
}

// newStreamEnv is newEnv with a server that streams.
func newStreamEnv(t *testing.T) (*env, *streamServer) {
	t.Helper()
	srv := &streamServer{Server: fakeserver.New()}
	srv.Now = func() time.Time { return testNow }
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apipb.RegisterSkiffServer(gs, srv)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); gs.Stop() })
	return &env{t: t, srv: srv.Server, c: client.NewFromConn(conn, "default")}, srv
}

// execCall is what a fake Exec handler saw.
type execCall struct {
	mu      sync.Mutex
	start   *apipb.ExecStart
	stdin   bytes.Buffer
	closed  bool
	resizes []*apipb.TermSize
	// noWait: answer at once, without waiting for stdin to close.
	noWait bool
}

func (c *execCall) snapshot() (start *apipb.ExecStart, stdin string, closed bool, resizes []*apipb.TermSize) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start, c.stdin.String(), c.closed, append([]*apipb.TermSize(nil), c.resizes...)
}

// fakeExec answers Exec: it records the call (the last one), reads the caller's messages
// until stdin is closed (when the start asks for stdin) or the caller is
// done, then runs answer.
func fakeExec(call *execCall, answer func(st apipb.Skiff_ExecServer, stdin string) error) func(apipb.Skiff_ExecServer) error {
	return func(st apipb.Skiff_ExecServer) error {
		first, err := st.Recv()
		if err != nil {
			return err
		}
		call.mu.Lock()
		call.start = first.GetStart()
		call.stdin.Reset()
		call.closed = false
		call.resizes = nil
		call.mu.Unlock()
		stdinDone := make(chan struct{})
		go func() {
			defer func() {
				call.mu.Lock()
				if !call.closed {
					call.closed = true
					close(stdinDone)
				}
				call.mu.Unlock()
			}()
			for {
				m, err := st.Recv()
				if err != nil {
					return
				}
				call.mu.Lock()
				switch m := m.Msg.(type) {
				case *apipb.ExecRequest_Stdin:
					call.stdin.Write(m.Stdin)
				case *apipb.ExecRequest_StdinClose:
					if !call.closed {
						call.closed = true
						close(stdinDone)
					}
				case *apipb.ExecRequest_Resize:
					call.resizes = append(call.resizes, m.Resize)
				}
				call.mu.Unlock()
			}
		}()
		if first.GetStart().GetStdin() && !call.noWait {
			<-stdinDone
		}
		call.mu.Lock()
		in := call.stdin.String()
		call.mu.Unlock()
		return answer(st, in)
	}
}

func sendOut(st apipb.Skiff_ExecServer, stdout, stderr string, code int32, errMsg string) error {
	if stdout != "" {
		if err := st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Stdout{Stdout: []byte(stdout)}}); err != nil {
			return err
		}
	}
	if stderr != "" {
		if err := st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Stderr{Stderr: []byte(stderr)}}); err != nil {
			return err
		}
	}
	return st.Send(&apipb.ExecResponse{Msg: &apipb.ExecResponse_Exit{Exit: &apipb.ExecExit{ExitCode: code, Error: errMsg}}})
}

func TestExecArguments(t *testing.T) {
	e, _ := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	usage := "error: " + execUsage + "\nSee 'skiffctl exec -h' for help and examples\n"
	for _, tc := range []struct {
		args    []string
		printed string
	}{
		{[]string{"exec"}, usage},
		{[]string{"exec", "--", "ls"}, usage},
		{[]string{"exec", "web"}, "error: you must specify at least one command for the container\n"},
		{[]string{"exec", "web", "--"}, "error: you must specify at least one command for the container\n"},
		{[]string{"exec", "web", "ls"}, "error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead\n"},
		{[]string{"exec", "nodes/n1", "--", "ls"}, "error: cannot exec into a Node: only pods are supported (POD or pod/NAME)\n"},
		{[]string{"exec", "nope", "--", "ls"}, "Error from server (NotFound): pods \"nope\" not found\n"},
	} {
		r := e.run(tc.args...)
		if r.code != 1 || r.printed != tc.printed {
			t.Errorf("%v: code %d, printed %q; want 1, %q", tc.args, r.code, r.printed, tc.printed)
		}
	}
}

func TestExecOutputAndExitCode(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	call := &execCall{}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error {
		return sendOut(st, "out\n", "err\n", 0, "")
	})
	r := e.run("exec", "pod/web", "--", "sh", "-c", "echo out; echo err >&2")
	r.expectOut(t, "out\n")
	if r.errOut != "err\n" {
		t.Errorf("stderr %q, want %q", r.errOut, "err\n")
	}
	start, _, _, _ := call.snapshot()
	if start.Namespace != "default" || start.Pod != "web" || start.Container != "web" ||
		strings.Join(start.Command, " ") != "sh -c echo out; echo err >&2" || start.Stdin || start.Tty {
		t.Errorf("start = %v", start)
	}

	// A non-zero exit code becomes skiffctl's, with kubectl's note.
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error {
		return sendOut(st, "", "", 7, "")
	})
	r = e.run("exec", "web", "--", "sh", "-c", "exit 7")
	if r.code != 7 || r.errOut != "command terminated with exit code 7\n" || r.printed != "" {
		t.Errorf("exit 7: code %d, stderr %q, printed %q", r.code, r.errOut, r.printed)
	}

	// A command that cannot start: the runtime's message, then 126.
	const oci = `OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown`
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error {
		return sendOut(st, "", "", 126, oci)
	})
	r = e.run("exec", "web", "--", "nope")
	if r.code != 126 || r.errOut != oci+"\ncommand terminated with exit code 126\n" {
		t.Errorf("not started: code %d, stderr %q", r.code, r.errOut)
	}
}

func TestExecStdin(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	call := &execCall{}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, stdin string) error {
		return sendOut(st, strings.ToUpper(stdin), "", 0, "")
	})
	input := strings.Repeat("hello stdin\n", 10000) // several messages
	r := e.runStdin(input, "exec", "-i", "web", "--", "cat")
	r.expectOut(t, strings.ToUpper(input))
	start, got, closed, _ := call.snapshot()
	if !start.Stdin || start.Tty || got != input || !closed {
		t.Errorf("start %v, %d bytes of stdin (closed %v); want stdin, no tty, %d bytes, closed", start, len(got), closed, len(input))
	}

	// Without -i nothing is sent.
	call = &execCall{}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error {
		time.Sleep(50 * time.Millisecond) // let any stray stdin arrive
		return sendOut(st, "done\n", "", 0, "")
	})
	e.runStdin("ignored", "exec", "web", "--", "cat").expectOut(t, "done\n")
	if start, got, _, _ := call.snapshot(); start.Stdin || got != "" {
		t.Errorf("without -i: start %v, stdin %q", start, got)
	}
}

func TestExecTTYWithoutTerminal(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	call := &execCall{}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, stdin string) error {
		return sendOut(st, stdin, "", 0, "")
	})
	// -it with stdin that is no terminal: kubectl's warning, no TTY.
	r := e.runStdin("typed\n", "exec", "-it", "web", "--", "sh")
	r.expectOut(t, "typed\n")
	if r.errOut != noTTYWarning+"\n" {
		t.Errorf("stderr %q, want the warning", r.errOut)
	}
	if start, _, _, _ := call.snapshot(); start.Tty || !start.Stdin {
		t.Errorf("start %v: want stdin without tty", start)
	}
	// -t without -i: no TTY and no warning, as kubectl.
	r = e.run("exec", "-t", "web", "--", "sh")
	r.expectOut(t, "")
	if start, _, _, _ := call.snapshot(); start.Tty || start.Stdin || r.errOut != "" {
		t.Errorf("-t alone: start %v, stderr %q", start, r.errOut)
	}
	// -q silences the warning.
	r = e.runStdin("", "exec", "-itq", "web", "--", "sh")
	if r.errOut != "" {
		t.Errorf("-q: stderr %q", r.errOut)
	}
}

// fakeTerminal records raw mode and delivers resizes on demand.
type fakeTerminal struct {
	mu            sync.Mutex
	raw, restored bool
	w, h          uint16
	resized       chan struct{}
}

func (f *fakeTerminal) MakeRaw() (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.raw = true
	return func() { f.mu.Lock(); f.restored = true; f.mu.Unlock() }, nil
}

func (f *fakeTerminal) Size() (uint16, uint16, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.w, f.h, true
}

func (f *fakeTerminal) Resized(ctx context.Context) <-chan struct{} { return f.resized }

func (f *fakeTerminal) resize(w, h uint16) {
	f.mu.Lock()
	f.w, f.h = w, h
	f.mu.Unlock()
	f.resized <- struct{}{}
}

func TestExecTTYWithTerminal(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	term := &fakeTerminal{w: 80, h: 24, resized: make(chan struct{})}
	call := &execCall{noWait: true}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error {
		// Wait for the resize the test sends, then answer.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, _, _, rs := call.snapshot(); len(rs) > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		return sendOut(st, "ok\r\n", "", 0, "")
	})
	pr, pw := io.Pipe() // a "terminal" that is never closed
	defer pw.Close()
	var out, errOut bytes.Buffer
	o := &ExecOptions{
		IOStreams: IOStreams{In: pr, Out: &out, ErrOut: &errOut},
		f:         &testFactory{e: e, flags: &ConfigFlags{}},
		Stdin:     true, TTY: true, term: term,
		pod: "web", namespace: "default", command: []string{"sh"},
	}
	go func() {
		// Raw mode is on before the start is sent; resize once it is.
		for {
			if start, _, _, _ := call.snapshot(); start != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		term.resize(100, 40)
	}()
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	start, _, _, resizes := call.snapshot()
	if !start.Tty || !start.Stdin || start.InitialSize.GetWidth() != 80 || start.InitialSize.GetHeight() != 24 {
		t.Errorf("start %v: want a tty of 80x24", start)
	}
	if len(resizes) != 1 || resizes[0].Width != 100 || resizes[0].Height != 40 {
		t.Errorf("resizes %v, want one to 100x40", resizes)
	}
	term.mu.Lock()
	raw, restored := term.raw, term.restored
	term.mu.Unlock()
	if !raw || !restored || out.String() != "ok\r\n" || errOut.String() != "" {
		t.Errorf("raw %v restored %v, stdout %q, stderr %q", raw, restored, out.String(), errOut.String())
	}
}

func TestExecContainerChoice(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", twoContainerPod())
	call := &execCall{}
	srv.exec = fakeExec(call, func(st apipb.Skiff_ExecServer, _ string) error { return sendOut(st, "", "", 0, "") })

	r := e.run("exec", "app", "--", "true")
	if start, _, _, _ := call.snapshot(); r.code != 0 || start.Container != "app" ||
		r.errOut != "Defaulted container \"app\" out of: app, log-adapter\n" {
		t.Errorf("default: code %d, container %q, stderr %q", r.code, start.Container, r.errOut)
	}
	r = e.run("exec", "app", "-c", "log-adapter", "--", "true")
	if start, _, _, _ := call.snapshot(); r.code != 0 || start.Container != "log-adapter" || r.errOut != "" {
		t.Errorf("-c: code %d, container %q, stderr %q", r.code, start.Container, r.errOut)
	}
	r = e.run("exec", "-q", "app", "--", "true")
	if r.errOut != "" {
		t.Errorf("-q: stderr %q", r.errOut)
	}

	annotated := twoContainerPod()
	annotated.Name = "annotated"
	annotated.Annotations = map[string]string{DefaultContainerAnnotation: "log-adapter"}
	e.srv.Put("pods", annotated)
	r = e.run("exec", "annotated", "--", "true")
	if start, _, _, _ := call.snapshot(); start.Container != "log-adapter" || r.errOut != "" {
		t.Errorf("annotation: container %q, stderr %q", start.Container, r.errOut)
	}

	withInit := twoContainerPod()
	withInit.Name = "init-app"
	withInit.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "busybox"}}
	e.srv.Put("pods", withInit)
	if r := e.run("exec", "init-app", "--", "true"); r.errOut != "Defaulted container \"app\" out of: app, log-adapter, setup (init)\n" {
		t.Errorf("with init: stderr %q", r.errOut)
	}
}

func TestExecErrors(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("done", time.Minute, corev1.PodSucceeded))
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	r := e.run("exec", "done", "--", "true")
	if r.code != 1 || r.printed != "error: cannot exec into a container in a completed pod; current phase is Succeeded\n" {
		t.Errorf("completed pod: code %d, printed %q", r.code, r.printed)
	}
	srv.exec = func(st apipb.Skiff_ExecServer) error {
		return status.Error(codes.FailedPrecondition, `unable to upgrade connection: container not found ("nope")`)
	}
	r = e.run("exec", "web", "-c", "nope", "--", "true")
	if r.code != 1 || r.printed != "error: unable to upgrade connection: container not found (\"nope\")\n" {
		t.Errorf("missing container: code %d, printed %q", r.code, r.printed)
	}
	srv.exec = func(st apipb.Skiff_ExecServer) error {
		_, _ = st.Recv()
		return nil // ends without an exit
	}
	if r := e.run("exec", "web", "--", "true"); r.code != 1 || !strings.Contains(r.printed, "without an exit code") {
		t.Errorf("no exit: code %d, printed %q", r.code, r.printed)
	}
}

func TestExecStopsWithContext(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	srv.exec = func(st apipb.Skiff_ExecServer) error {
		<-st.Context().Done()
		return st.Context().Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan result, 1)
	go func() { done <- e.runCtx(ctx, "", "exec", "web", "--", "sleep", "1000") }()
	select {
	case r := <-done:
		if r.code != interruptedCode || r.printed != "" {
			t.Errorf("interrupted: code %d, printed %q; want %d and nothing", r.code, r.printed, interruptedCode)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exec did not end with its context")
	}
}
