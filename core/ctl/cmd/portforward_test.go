package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/test/testenv"
)

func TestParsePortSpec(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want portSpec
		err  string
	}{
		{arg: "8080", want: portSpec{local: 8080, remote: "8080"}},
		{arg: "8080:80", want: portSpec{local: 8080, remote: "80"}},
		{arg: ":80", want: portSpec{local: 0, remote: "80"}},
		{arg: "0:80", want: portSpec{local: 0, remote: "80"}},
		{arg: "http", want: portSpec{remote: "http", sameLocal: true}},
		{arg: "8080:http", want: portSpec{local: 8080, remote: "http"}},
		{arg: ":http", want: portSpec{local: 0, remote: "http"}},
		{arg: "1:2:3", err: "invalid port format '1:2:3'"},
		{arg: "8080:", err: "invalid port format '8080:'"},
		{arg: "0", err: "remote port must be > 0"},
		{arg: "8080:0", err: "remote port must be > 0"},
		{arg: "70000", err: `error parsing remote port '70000': strconv.ParseUint: parsing "70000": value out of range`},
		{arg: "abc:80", err: `error parsing local port 'abc': strconv.ParseUint: parsing "abc": invalid syntax`},
		{arg: "99999:80", err: `error parsing local port '99999': strconv.ParseUint: parsing "99999": value out of range`},
	} {
		got, err := parsePortSpec(tc.arg)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.arg, got, err, tc.want)
		}
	}
}

func TestResolveNamedPorts(t *testing.T) {
	p := pod("web", time.Minute, corev1.PodRunning)
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80}, {Name: "metrics", ContainerPort: 9090}}
	for _, tc := range []struct {
		arg  string
		want forwardedPort
		err  string
	}{
		{arg: "8080:80", want: forwardedPort{8080, 80}},
		{arg: "http", want: forwardedPort{80, 80}},
		{arg: "8080:http", want: forwardedPort{8080, 80}},
		{arg: ":metrics", want: forwardedPort{0, 9090}},
		{arg: "grpc", err: "Pod 'web' does not have a named port 'grpc'"},
	} {
		spec, err := parsePortSpec(tc.arg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := spec.resolve(p)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err %v, want %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %+v, %v; want %+v", tc.arg, got, err, tc.want)
		}
	}
}

func TestParseAddresses(t *testing.T) {
	got, err := parseAddresses([]string{"localhost", "10.0.0.1", "127.0.0.1", "::"})
	if err != nil {
		t.Fatal(err)
	}
	want := []listenAddress{
		{ip: "10.0.0.1", network: "tcp4"},
		{ip: "127.0.0.1", network: "tcp4"}, // named explicitly too: it must bind
		{ip: "::", network: "tcp6"},
		{ip: "::1", network: "tcp6", failAll: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("addresses = %v, want %v", got, want)
	}
	if _, err := parseAddresses([]string{"example.com"}); err == nil || err.Error() != "example.com is not a valid IP" {
		t.Errorf("hostname: %v", err)
	}
}

func TestPortForwardArguments(t *testing.T) {
	e, _ := newStreamEnv(t)
	e.srv.Put("pods", pod("pending", time.Minute, corev1.PodPending))
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	usage := "error: " + portForwardUsage + "\nSee 'skiffctl port-forward -h' for help and examples\n"
	for _, tc := range []struct {
		args    []string
		printed string
	}{
		{[]string{"port-forward"}, usage},
		{[]string{"port-forward", "web"}, usage},
		{[]string{"port-forward", "web", "1:2:3"}, "error: invalid port format '1:2:3'\n"},
		{[]string{"port-forward", "--address", "nowhere", "web", "80"}, "error: nowhere is not a valid IP\n"},
		{[]string{"port-forward", "nodes/n1", "80"}, "error: cannot forward ports of a Node: only pods are supported (POD or pod/NAME)\n"},
		{[]string{"port-forward", "nope", "80"}, "Error from server (NotFound): pods \"nope\" not found\n"},
		{[]string{"port-forward", "web", "http"}, "error: Pod 'web' does not have a named port 'http'\n"},
		{[]string{"port-forward", "pending", "80"}, "error: unable to forward port because pod is not running. Current status=Pending\n"},
	} {
		r := e.run(tc.args...)
		if r.code != 1 || r.printed != tc.printed {
			t.Errorf("%v: code %d, printed %q; want 1, %q", tc.args, r.code, r.printed, tc.printed)
		}
	}
}

// upperServer answers PortForward like a pod port that upper-cases what it
// reads and, at the caller's half-close, half-closes too and ends.
func upperServer(starts chan<- *apipb.PortForwardStart) func(apipb.Skiff_PortForwardServer) error {
	return func(st apipb.Skiff_PortForwardServer) error {
		first, err := st.Recv()
		if err != nil {
			return err
		}
		starts <- first.GetStart()
		for {
			m, err := st.Recv()
			if errors.Is(err, io.EOF) {
				return st.Send(&apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_CloseWrite{CloseWrite: true}})
			}
			if err != nil {
				return err
			}
			up := bytes.ToUpper(m.GetData())
			if err := st.Send(&apipb.PortForwardResponse{Msg: &apipb.PortForwardResponse_Data{Data: up}}); err != nil {
				return err
			}
		}
	}
}

// startForward runs port-forward until the test ends and returns its
// output streams once it listens.
func startForward(t *testing.T, e *env, args ...string) (out, errOut *testenv.SyncBuffer, stop func() error) {
	t.Helper()
	out, errOut = &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	o := &PortForwardOptions{IOStreams: IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		f: &testFactory{e: e, flags: &ConfigFlags{}}, Address: []string{"localhost"}, ready: make(chan struct{})}
	cmd := NewCmdPortForward(o.f, o.IOStreams)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(cmd, cmd.Flags().Args()); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	select {
	case <-o.ready:
	case err := <-done:
		cancel()
		t.Fatalf("port-forward ended: %v\nstderr: %s", err, errOut.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("port-forward did not listen")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("port-forward did not stop with its context")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return out, errOut, stop
}

var forwardingLine = regexp.MustCompile(`(?m)^Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)$`)

// roundTrip sends msg to addr, half-closes and reads the answer to EOF.
func roundTrip(addr, msg string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

func TestPortForwardRelaysConnections(t *testing.T) {
	e, srv := newStreamEnv(t)
	p := pod("web", time.Minute, corev1.PodRunning)
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}
	e.srv.Put("pods", p)
	starts := make(chan *apipb.PortForwardStart, 100)
	srv.portForward = upperServer(starts)

	out, errOut, stop := startForward(t, e, "pod/web", ":http", "0:81")
	lines := forwardingLine.FindAllStringSubmatch(out.String(), -1)
	if len(lines) != 2 || lines[0][2] != "80" || lines[1][2] != "81" {
		t.Fatalf("output %q: want a Forwarding line per port", out.String())
	}
	if v6 := strings.Count(out.String(), "Forwarding from [::1]:"); v6 != 0 && v6 != 2 {
		t.Errorf("output %q: ::1 listeners for some ports only", out.String())
	}
	addr80 := "127.0.0.1:" + lines[0][1]
	addr81 := "127.0.0.1:" + lines[1][1]

	// Concurrent connections, each its own call.
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := addr80
			if i%2 == 1 {
				addr = addr81
			}
			msg := fmt.Sprintf("hello %d ", i) + strings.Repeat("x", 100000)
			got, err := roundTrip(addr, msg)
			if err != nil {
				errs <- err
				return
			}
			if got != strings.ToUpper(msg) {
				errs <- fmt.Errorf("connection %d: got %d bytes, want %d upper-cased", i, len(got), len(msg))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[int32]int{}
	for range n {
		s := <-starts
		if s.Namespace != "default" || s.Pod != "web" {
			t.Errorf("start %v", s)
		}
		seen[s.Port]++
	}
	if seen[80] != n/2 || seen[81] != n/2 {
		t.Errorf("calls per port %v, want %d each", seen, n/2)
	}
	if got := strings.Count(out.String(), "Handling connection for "+lines[0][1]+"\n"); got != n/2 {
		t.Errorf("%d 'Handling connection' lines for port %s, want %d:\n%s", got, lines[0][1], n/2, out.String())
	}
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if errOut.String() != "" {
		t.Errorf("stderr %q", errOut.String())
	}
	if _, err := net.DialTimeout("tcp", addr80, time.Second); err == nil {
		t.Error("still listening after stop")
	}
}

func TestPortForwardReportsConnectionErrors(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	srv.portForward = func(st apipb.Skiff_PortForwardServer) error {
		_, _ = st.Recv()
		return status.Error(codes.Unavailable, "error forwarding port 81 to pod web: connection refused")
	}
	out, errOut, stop := startForward(t, e, "web", ":81")
	lines := forwardingLine.FindAllStringSubmatch(out.String(), -1)
	if len(lines) != 1 {
		t.Fatalf("output %q", out.String())
	}
	// Each connection is closed at once; the forward goes on.
	for i := range 2 {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+lines[0][1], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		conn.Close()
		if err != nil || len(got) != 0 {
			t.Errorf("connection %d to a refused port: read %q, %v; want it closed", i, got, err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("error: an error occurred forwarding %s -> 81: error forwarding port 81 to pod web: connection refused\n", lines[0][1])
	if errOut.String() != want+want {
		t.Errorf("stderr %q, want twice %q", errOut.String(), want)
	}
}

func TestPortForwardListenErrors(t *testing.T) {
	e, srv := newStreamEnv(t)
	e.srv.Put("pods", pod("web", time.Minute, corev1.PodRunning))
	srv.portForward = upperServer(make(chan *apipb.PortForwardStart, 10))
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	// An explicit address that cannot be bound fails that port.
	r := e.run("port-forward", "--address", "127.0.0.1", "web", fmt.Sprintf("%d:80", port))
	if r.code != 1 || !strings.HasPrefix(r.errOut, fmt.Sprintf("Unable to listen on port %d: Listeners failed to create with the following errors: [unable to create listener: Error listen tcp4 127.0.0.1:%d: bind: address already in use]", port, port)) ||
		r.printed != fmt.Sprintf("error: unable to listen on any of the requested ports: [{%d 80}]\n", port) {
		t.Errorf("busy port: code %d, stderr %q, printed %q", r.code, r.errOut, r.printed)
	}
}
