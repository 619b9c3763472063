package cmd

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/daemon"
)

// --tls-san is comma-separated and repeatable on server and dev, and a
// bad entry stops skiffd before anything starts.
func TestTLSSANFlag(t *testing.T) {
	var o daemon.Options
	c := &cobra.Command{Use: "server"}
	serverFlags(c, &o)
	if err := c.ParseFlags([]string{"--tls-san", "lb.example.com,10.0.0.10", "--tls-san=fd00::10"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.TLSSANs, " "); got != "lb.example.com 10.0.0.10 fd00::10" {
		t.Errorf("TLSSANs = %q", got)
	}
	for _, mode := range []string{"server", "dev"} {
		for _, tc := range []struct{ arg, want string }{
			{"lb.example.com:6443", `invalid argument "lb.example.com:6443" for "--tls-san" flag: --tls-san "lb.example.com:6443": want an IP address or a DNS name, without a port`},
			{"ok.example.com,bad_name", `--tls-san "bad_name": want an IP address or a DNS name`},
		} {
			root := NewRoot(io.Discard, io.Discard)
			sub, _, err := root.Find([]string{mode})
			if err != nil {
				t.Fatal(err)
			}
			sub.RunE = func(*cobra.Command, []string) error { return errors.New("the command ran: its flags were accepted") }
			root.SetArgs([]string{mode, "--data-dir", t.TempDir(), "--tls-san", tc.arg})
			err = root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("skiffd %s --tls-san %q: %v, want an error with %q", mode, tc.arg, err, tc.want)
			}
		}
	}
}

// skiffd server refuses inconsistent etcd member flags before it starts
// etcd, naming the flags.
func TestEtcdMemberFlagErrors(t *testing.T) {
	const cluster = "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd-name", "d", "--etcd-initial-cluster", cluster}, `--etcd-name "d" is not a member of --etcd-initial-cluster (its members: a, b, c)`},
		{[]string{"--etcd-initial-cluster", cluster}, "--etcd-initial-cluster needs --etcd-name"},
		{[]string{"--etcd-name", "a"}, "need --etcd-initial-cluster"},
		{[]string{"--etcd-name", "a", "--etcd-initial-cluster", "a=http://10.0.0.1:2380"}, `--etcd-initial-cluster "a=http://10.0.0.1:2380": member "a": peer URL "http://10.0.0.1:2380": want https://IP:PORT`},
		{[]string{"--etcd-name", "a", "--etcd-initial-cluster", cluster, "--etcd-peer-listen", "any:2380"}, `--etcd-peer-listen "any:2380"`},
		{[]string{"--etcd-name", "a", "--etcd-initial-cluster", cluster, "--etcd-endpoints", "http://10.0.0.9:2379"}, "--etcd-endpoints (an external etcd) and --etcd-name"},
	} {
		root := NewRoot(io.Discard, io.Discard)
		root.SetArgs(append([]string{"server", "--data-dir", t.TempDir()}, tc.args...))
		// Should the flags pass, nothing waits: the context is over.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := root.ExecuteContext(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("skiffd server %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
