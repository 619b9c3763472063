package cmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// skiffd loadbalancer refuses bad flags before it listens, naming the flag.
func TestLoadBalancerFlagErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "127.0.0.1:6443"}, "--listen IP:PORT is required"},
		{[]string{"--listen", "lb:6443", "--backend", "127.0.0.1:6443"}, `--listen "lb:6443": want IP:PORT`},
		{[]string{"--listen", "127.0.0.1:0"}, "at least one --backend IP:PORT is required"},
		{[]string{"--listen", "127.0.0.1:0", "--backend", "10.0.0.2"}, `--backend "10.0.0.2": want IP:PORT`},
		{[]string{"--listen", "127.0.0.1:0", "--backend", "10.0.0.2:6443,10.0.0.3:6443", "--backend", "10.0.0.2:6443"}, "--backend 10.0.0.2:6443 is given twice"},
		{[]string{"--listen", "10.0.0.2:6443", "--backend", "10.0.0.2:6443"}, "--backend 10.0.0.2:6443 is the --listen address"},
		{[]string{"--listen", "127.0.0.1:0", "--backend", "10.0.0.2:6443", "--health-interval", "0s"}, "--health-interval 0s: must be positive"},
		{[]string{"--listen", "127.0.0.1:0", "--backend", "10.0.0.2:6443", "--ca-file", "/nonexistent/ca.crt"}, "--ca-file: open /nonexistent/ca.crt"},
		{[]string{"--listen", busy.Addr().String(), "--backend", "10.0.0.2:6443"}, "--listen " + busy.Addr().String() + ": listen tcp"},
	} {
		root := NewRoot(io.Discard, io.Discard)
		root.SetArgs(append([]string{"loadbalancer"}, tc.args...))
		// A cancelled context: should the flags be accepted, it returns at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := root.ExecuteContext(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("skiffd loadbalancer %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// Good flags start it (--backend repeatable and comma-separated); a done
// context stops it.
func TestLoadBalancerStartsAndStops(t *testing.T) {
	var out bytes.Buffer
	root := NewRoot(&out, io.Discard)
	root.SetArgs([]string{"loadbalancer", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:1,127.0.0.1:2", "--backend", "127.0.0.1:3"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "backends 127.0.0.1:1, 127.0.0.1:2, 127.0.0.1:3\n"; !strings.HasPrefix(out.String(), "skiff load balancer on 127.0.0.1:") || !strings.HasSuffix(out.String(), want) {
		t.Fatalf("output %q, want the listen address and %q", out.String(), want)
	}
}
