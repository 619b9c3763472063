package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/runtime/fake"
)

// connect serves impl over a real go-plugin gRPC connection and returns the
// host's view of it.
func connect(t *testing.T, impl runtime.Runtime) runtime.Runtime {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindRuntime): &runtime.GRPCPlugin{Impl: impl},
	})
	// Closing the client also stops the server, through go-plugin's
	// controller service.
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(string(base.KindRuntime))
	if err != nil {
		t.Fatalf("dispense runtime: %v", err)
	}
	rt, ok := raw.(runtime.Runtime)
	if !ok {
		t.Fatalf("dispensed %T, which does not implement runtime.Runtime", raw)
	}
	return rt
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestInfoAndConfigureCrossTheWire(t *testing.T) {
	var got base.Config
	rt := connect(t, &fake.Runtime{ConfigureFunc: func(_ context.Context, cfg base.Config) error {
		got = cfg
		return nil
	}})
	info, err := rt.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != base.KindRuntime || info.Name != "fake" {
		t.Fatalf("Info = %+v, want the fake's kind and name", info)
	}
	want := base.Config{NodeName: "n1", DataDir: "/data", Settings: map[string]string{"a": "b"}}
	if err := rt.Configure(ctx(t), want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plugin got config %+v, want %+v", got, want)
	}
}

func TestSentinelErrorsSurviveTheWire(t *testing.T) {
	rt := connect(t, &fake.Runtime{
		ImageStatusFunc: func(_ context.Context, ref string) (runtime.Image, error) {
			return runtime.Image{}, fmt.Errorf("image %q: %w", ref, base.ErrNotFound)
		},
		CreateContainerFunc: func(_ context.Context, _ string, cfg runtime.ContainerConfig) (string, error) {
			return "", fmt.Errorf("container %q: image %q: %w", cfg.Name, cfg.Image, runtime.ErrImageNotPresent)
		},
		PullImageFunc: func(_ context.Context, ref string, _ runtime.PullOptions) (runtime.Image, error) {
			return runtime.Image{}, fmt.Errorf("pull %q: %w: %w", ref, runtime.ErrImagePull, errors.New("connection refused"))
		},
		StartContainerFunc: func(context.Context, string) error { return errors.New("plain failure") },
	})
	_, err := rt.ImageStatus(ctx(t), "nope")
	if !errors.Is(err, base.ErrNotFound) || !strings.Contains(err.Error(), `image "nope"`) {
		t.Errorf("ImageStatus: got %v, want base.ErrNotFound with the plugin's message", err)
	}
	_, err = rt.CreateContainer(ctx(t), "sb", runtime.ContainerConfig{Name: "web", Image: "missing"})
	if !errors.Is(err, runtime.ErrImageNotPresent) {
		t.Errorf("CreateContainer: got %v, want runtime.ErrImageNotPresent", err)
	}
	_, err = rt.PullImage(ctx(t), "x", runtime.PullOptions{})
	if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("PullImage: got %v, want runtime.ErrImagePull carrying the registry error", err)
	}
	err = rt.StartContainer(ctx(t), "c")
	if err == nil || !strings.Contains(err.Error(), "plain failure") {
		t.Errorf("StartContainer: got %v, want the plugin's message", err)
	}
	_, err = rt.ListImages(ctx(t)) // nil field in the fake
	if !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("ListImages: got %v, want base.ErrUnsupported", err)
	}
}

func TestValuesRoundTrip(t *testing.T) {
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	wantStatus := runtime.ContainerStatus{
		ID: "c1", SandboxID: "s1", Name: "web", Image: "busybox", ImageID: "sha256:abc",
		Labels: map[string]string{"app": "web"}, State: runtime.StateExited, PID: 42,
		CreatedAt: created, StartedAt: created.Add(time.Second), FinishedAt: created.Add(2 * time.Second),
		ExitCode: 137, Reason: "OOMKilled", Message: "out of memory", LogPath: "/logs/web.log",
	}
	wantConfig := runtime.ContainerConfig{
		Name: "web", Image: "busybox", Command: []string{"sh", "-c"}, Args: []string{"echo hi"},
		Env: []string{"A=1"}, WorkingDir: "/tmp", Labels: map[string]string{"k": "v"}, LogPath: "/l",
		Mounts:    []runtime.Mount{{HostPath: "/h", ContainerPath: "/c", ReadOnly: true}},
		Resources: runtime.ContainerResources{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimitBytes: 1 << 20},
		Security: runtime.SecurityConfig{
			RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(0)), RunAsNonRoot: true, ReadOnlyRootfs: true,
			CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, NoNewPrivileges: true, Privileged: true,
		},
		TTY: true, Stdin: true,
	}
	wantSandbox := runtime.SandboxConfig{PodUID: "u1", Namespace: "default", Name: "nginx", Hostname: "nginx", NetNSPath: "/run/netns/x", Labels: map[string]string{"a": "b"}}
	var gotConfig runtime.ContainerConfig
	var gotSandbox runtime.SandboxConfig
	var gotTimeout time.Duration
	rt := connect(t, &fake.Runtime{
		ContainerStatusFunc: func(context.Context, string) (runtime.ContainerStatus, error) { return wantStatus, nil },
		ListContainersFunc: func(context.Context, map[string]string) ([]runtime.ContainerStatus, error) {
			return []runtime.ContainerStatus{{ID: "c2", State: runtime.StateCreated}}, nil
		},
		CreateContainerFunc: func(_ context.Context, _ string, cfg runtime.ContainerConfig) (string, error) {
			gotConfig = cfg
			return "c1", nil
		},
		RunPodSandboxFunc: func(_ context.Context, cfg runtime.SandboxConfig) (string, error) {
			gotSandbox = cfg
			return "s1", nil
		},
		StopContainerFunc: func(_ context.Context, _ string, timeout time.Duration) error {
			gotTimeout = timeout
			return nil
		},
	})
	st, err := rt.ContainerStatus(ctx(t), "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, wantStatus) {
		t.Errorf("ContainerStatus:\n got %+v\nwant %+v", st, wantStatus)
	}
	list, err := rt.ListContainers(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].StartedAt.IsZero() || !list[0].CreatedAt.IsZero() || list[0].State != runtime.StateCreated {
		t.Errorf("ListContainers = %+v, want one created container with zero times", list)
	}
	if _, err := rt.CreateContainer(ctx(t), "s1", wantConfig); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotConfig, wantConfig) {
		t.Errorf("CreateContainer config:\n got %+v\nwant %+v", gotConfig, wantConfig)
	}
	// Unset user and group stay unset (not 0, which is root).
	if _, err := rt.CreateContainer(ctx(t), "s1", runtime.ContainerConfig{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	if sec := gotConfig.Security; sec.RunAsUser != nil || sec.RunAsGroup != nil || sec.RunAsNonRoot || sec.Privileged {
		t.Errorf("an empty SecurityConfig came through as %+v", sec)
	}
	if _, err := rt.RunPodSandbox(ctx(t), wantSandbox); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSandbox, wantSandbox) {
		t.Errorf("RunPodSandbox config:\n got %+v\nwant %+v", gotSandbox, wantSandbox)
	}
	if err := rt.StopContainer(ctx(t), "c1", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if gotTimeout != 1500*time.Millisecond {
		t.Errorf("StopContainer timeout = %v, want 1.5s", gotTimeout)
	}
}

func TestImportImagesStreamsTheWholeArchive(t *testing.T) {
	payload := make([]byte, 3<<20+17) // several chunks, not a multiple of one
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	rt := connect(t, &fake.Runtime{ImportImagesFunc: func(_ context.Context, r io.Reader) ([]runtime.Image, error) {
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return nil, err
		}
		return []runtime.Image{{Ref: "sum", ID: fmt.Sprintf("sha256:%x", h.Sum(nil))}}, nil
	}})
	imgs, err := rt.ImportImages(ctx(t), bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(payload))
	if len(imgs) != 1 || imgs[0].ID != want {
		t.Fatalf("plugin saw an archive with digest %+v, want %s", imgs, want)
	}
}

func TestImportImagesErrorBeforeTheEnd(t *testing.T) {
	rt := connect(t, &fake.Runtime{ImportImagesFunc: func(_ context.Context, r io.Reader) ([]runtime.Image, error) {
		io.ReadFull(r, make([]byte, 10))
		return nil, fmt.Errorf("not a tar: %w", runtime.ErrInvalidArchive)
	}})
	_, err := rt.ImportImages(ctx(t), bytes.NewReader(make([]byte, 8<<20)))
	if !errors.Is(err, runtime.ErrInvalidArchive) {
		t.Fatalf("got %v, want runtime.ErrInvalidArchive", err)
	}
}

func TestContainerLogs(t *testing.T) {
	text := strings.Repeat("0123456789abcdef\n", 20000) // > one chunk
	var gotOpts runtime.LogOptions
	rt := connect(t, &fake.Runtime{ContainerLogsFunc: func(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
		gotOpts = opts
		switch id {
		case "all":
			return io.NopCloser(strings.NewReader(text)), nil
		case "quiet": // follows forever until the caller goes away
			r, w := io.Pipe()
			context.AfterFunc(ctx, func() { w.CloseWithError(ctx.Err()) })
			return r, nil
		}
		return nil, fmt.Errorf("container %q: %w", id, base.ErrNotFound)
	}})

	rc, err := rt.ContainerLogs(ctx(t), "all", runtime.LogOptions{TailLines: -1, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != text {
		t.Errorf("got %d bytes of log, want %d", len(got), len(text))
	}
	if gotOpts != (runtime.LogOptions{TailLines: -1, Timestamps: true}) {
		t.Errorf("plugin got options %+v", gotOpts)
	}

	if _, err := rt.ContainerLogs(ctx(t), "missing", runtime.LogOptions{TailLines: -1}); !errors.Is(err, base.ErrNotFound) {
		t.Errorf("logs of a missing container: got %v, want base.ErrNotFound from ContainerLogs itself", err)
	}

	// A quiet followed log returns at once and ends when the caller closes.
	rc, err = rt.ContainerLogs(ctx(t), "quiet", runtime.LogOptions{Follow: true, TailLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	rc.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reading a followed log did not end after Close")
	}
}

func TestExecStreams(t *testing.T) {
	var gotStdinNil bool
	rt := connect(t, &fake.Runtime{ExecFunc: func(ctx context.Context, id string, opts runtime.ExecOptions) (int, error) {
		if id == "stopped" {
			return 0, fmt.Errorf("container %q: %w", id, runtime.ErrContainerNotRunning)
		}
		if opts.Stdin == nil {
			gotStdinNil = true
			fmt.Fprintf(opts.Stdout, "cmd=%s tty=%v\n", strings.Join(opts.Cmd, " "), opts.TTY)
			return 0, nil
		}
		sz := <-opts.Resize
		fmt.Fprintf(opts.Stderr, "size %dx%d\n", sz.Width, sz.Height)
		in, err := io.ReadAll(opts.Stdin)
		if err != nil {
			return 0, err
		}
		opts.Stdout.Write(bytes.ToUpper(in))
		return 42, nil
	}})

	var stdout, stderr bytes.Buffer
	resize := make(chan runtime.TermSize, 1)
	resize <- runtime.TermSize{Width: 80, Height: 24}
	input := strings.Repeat("hello ", 30000)
	code, err := rt.Exec(ctx(t), "c1", runtime.ExecOptions{
		Cmd: []string{"cat"}, Stdin: strings.NewReader(input), Stdout: &stdout, Stderr: &stderr, Resize: resize,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 42 {
		t.Errorf("exit code %d, want 42", code)
	}
	if stdout.String() != strings.ToUpper(input) {
		t.Errorf("stdout has %d bytes, want the %d bytes of stdin upper-cased", stdout.Len(), len(input))
	}
	if stderr.String() != "size 80x24\n" {
		t.Errorf("stderr = %q, want the resize", stderr.String())
	}

	stdout.Reset()
	code, err = rt.Exec(ctx(t), "c1", runtime.ExecOptions{Cmd: []string{"ls", "-l"}, TTY: true, Stdout: &stdout})
	if err != nil || code != 0 || !gotStdinNil || stdout.String() != "cmd=ls -l tty=true\n" {
		t.Errorf("exec without stdin: code %d, err %v, stdin nil %v, stdout %q", code, err, gotStdinNil, stdout.String())
	}

	_, err = rt.Exec(ctx(t), "stopped", runtime.ExecOptions{Cmd: []string{"true"}})
	if !errors.Is(err, runtime.ErrContainerNotRunning) {
		t.Errorf("exec in a stopped container: got %v, want runtime.ErrContainerNotRunning", err)
	}
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// writeRecorder is a caller's stream with nothing to send that keeps what
// it is written and the largest single write.
type writeRecorder struct {
	buf     bytes.Buffer
	largest int
}

func (w *writeRecorder) Read([]byte) (int, error) { return 0, io.EOF }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.largest = max(w.largest, len(p))
	return w.buf.Write(p)
}

// readTracker records whether anything read from it.
type readTracker struct {
	read atomic.Bool
}

func (r *readTracker) Read([]byte) (int, error)    { r.read.Store(true); return 0, io.EOF }
func (r *readTracker) Write(p []byte) (int, error) { return len(p), nil }

func TestPortForward(t *testing.T) {
	got := make(chan []byte, 1)
	copyFrom := make(chan *net.TCPConn, 1)
	var gotPort int
	rt := connect(t, &fake.Runtime{PortForwardFunc: func(ctx context.Context, sb string, port int, stream io.ReadWriter) error {
		gotPort = port
		switch sb {
		case "refused":
			return fmt.Errorf("port %d of sandbox %q: connection refused: %w", port, sb, runtime.ErrPortForward)
		case "echo": // reads to the caller's EOF, answers, ends
			in, err := io.ReadAll(stream)
			if err != nil {
				return err
			}
			_, err = stream.Write(bytes.ToUpper(in))
			return err
		case "greet": // speaks first and half-closes, then listens
			if _, err := io.WriteString(stream, "hello\n"); err != nil {
				return err
			}
			if err := stream.(runtime.CloseWriter).CloseWrite(); err != nil {
				return err
			}
			in, err := io.ReadAll(stream)
			got <- in
			return err
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		case "copy": // copies its connection to the caller, as runtimes do
			_, err := io.Copy(stream, <-copyFrom)
			return err
		}
		return fmt.Errorf("sandbox %q: %w", sb, base.ErrNotFound)
	}})

	forward := func(sb string, stream io.ReadWriter) <-chan error {
		done := make(chan error, 1)
		go func() {
			err := rt.PortForward(ctx(t), sb, 8080, stream)
			if c, ok := stream.(net.Conn); ok {
				c.Close() // as a real caller does when the forward ends
			}
			done <- err
		}()
		return done
	}
	wait := func(done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("PortForward did not return")
			return nil
		}
	}

	t.Run("Echo", func(t *testing.T) {
		client, server := tcpPair(t)
		done := forward("echo", server)
		payload := bytes.Repeat([]byte("abcdefgh"), 40000) // several chunks
		go func() {
			client.Write(payload)
			client.CloseWrite()
		}()
		back, err := io.ReadAll(client)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, bytes.ToUpper(payload)) {
			t.Errorf("got %d bytes back, want the %d bytes sent, upper-cased", len(back), len(payload))
		}
		if err := wait(done); err != nil {
			t.Errorf("PortForward: %v", err)
		}
		if gotPort != 8080 {
			t.Errorf("plugin got port %d, want 8080", gotPort)
		}
	})
	t.Run("HalfCloseFromThePort", func(t *testing.T) {
		client, server := tcpPair(t)
		done := forward("greet", server)
		// The port's CloseWrite reaches the caller as EOF while the forward
		// still runs.
		hello, err := io.ReadAll(client)
		if err != nil || string(hello) != "hello\n" {
			t.Fatalf("read %q, %v; want the greeting, then EOF", hello, err)
		}
		client.Write([]byte("still listening?"))
		client.CloseWrite()
		select {
		case in := <-got:
			if string(in) != "still listening?" {
				t.Errorf("the port's side read %q after its half-close", in)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the port's side never saw the caller's EOF")
		}
		if err := wait(done); err != nil {
			t.Errorf("PortForward: %v", err)
		}
	})
	t.Run("CopiedFromAConnection", func(t *testing.T) {
		// io.Copy goes through the stream's ReadFrom: one message per read
		// of the connection, none bigger than base.StreamChunk.
		port, conn := tcpPair(t)
		copyFrom <- conn
		payload := bytes.Repeat([]byte("0123456789abcdef"), 20000)
		go func() {
			port.Write(payload)
			port.Close()
		}()
		w := &writeRecorder{}
		if err := wait(forward("copy", w)); err != nil {
			t.Fatalf("PortForward: %v", err)
		}
		if !bytes.Equal(w.buf.Bytes(), payload) {
			t.Errorf("the caller got %d bytes, want the %d the port sent", w.buf.Len(), len(payload))
		}
		if w.largest > base.StreamChunk {
			t.Errorf("a message carried %d bytes, more than base.StreamChunk (%d)", w.largest, base.StreamChunk)
		}
	})
	t.Run("Refused", func(t *testing.T) {
		tr := &readTracker{}
		err := wait(forward("refused", tr))
		if !errors.Is(err, runtime.ErrPortForward) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("got %v, want runtime.ErrPortForward with the plugin's message", err)
		}
		if tr.read.Load() {
			t.Error("the caller's stream was read although the port was refused")
		}
		if err := wait(forward("unknown", tr)); !errors.Is(err, base.ErrNotFound) {
			t.Errorf("unknown sandbox: got %v, want base.ErrNotFound", err)
		}
	})
	t.Run("ContextEnds", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		c, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- rt.PortForward(c, "hang", 80, struct {
				io.Reader
				io.Writer
			}{pr, io.Discard})
		}()
		time.Sleep(100 * time.Millisecond)
		cancel()
		if err := wait(done); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
	t.Run("Unsupported", func(t *testing.T) {
		old := connect(t, &fake.Runtime{})
		if err := old.PortForward(ctx(t), "sb", 80, &readTracker{}); !errors.Is(err, base.ErrUnsupported) {
			t.Errorf("got %v, want base.ErrUnsupported", err)
		}
	})
}

func ptr[T any](v T) *T { return &v }
