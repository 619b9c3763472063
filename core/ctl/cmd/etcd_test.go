package cmd

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
)

// adminFactory connects to a real API server as admin.
type adminFactory struct{ c *client.Client }

func (f adminFactory) Client() (*client.Client, error) { return f.c, nil }
func (f adminFactory) Namespace() (string, bool)       { return "default", false }
func (f adminFactory) Now() time.Time                  { return time.Now() }

func runWith(c *client.Client, args ...string) (string, error) {
	var out bytes.Buffer
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: io.Discard}, func(*ConfigFlags) Factory { return adminFactory{c} })
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// stackedMember starts a member of a stacked etcd on loopback with peer TLS
// from ca: name alone in its cluster, or joining initial (state existing).
func stackedMember(t *testing.T, ca *pki.CA, caFile, name, peerURL, initial string) *embedetcd.Etcd {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key")
	if _, err := ca.EnsureServerFiles(cert, key, "peer", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	o := embedetcd.Options{Dir: dir, Name: name, InitialCluster: name + "=" + peerURL,
		PeerTLS: embedetcd.PeerTLS{CertFile: cert, KeyFile: key, TrustedCAFile: caFile}}
	if initial != "" {
		o.InitialCluster, o.ClusterState = initial, embedetcd.ClusterStateExisting
	}
	e, err := embedetcd.StartWith(context.Background(), o)
	if err != nil {
		t.Fatalf("start etcd member %s: %v", name, err)
	}
	t.Cleanup(e.Close)
	return e
}

func loopbackPeerURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "https://" + l.Addr().String()
}

// `etcd member list|add|remove` on a server with a stacked member: a new
// member joins with the printed flags, and one is removed; nodes may not;
// a single loopback member (skiffd dev) refuses changes.
func TestEtcdMemberCommands(t *testing.T) {
	caDir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(caDir, "ca.crt")
	url0, url1 := loopbackPeerURL(t), loopbackPeerURL(t)
	m0 := stackedMember(t, ca, caFile, "s0", url0, "")
	srv := testapi.StartWith(t, testapi.Options{Configure: func(c *apiserver.Config) {
		c.Etcd = embedetcd.Membership{Client: m0.Client, Self: m0.MemberID(), Stacked: true}
	}})

	out, err := runWith(srv.Admin, "etcd", "member", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ID\s+STATUS\s+NAME\s+PEER ADDRS\s+CLIENT ADDRS\s+IS LEARNER\n[0-9a-f]+\s+started\s+s0\*\s+` + regexp.QuoteMeta(url0) + `\s+\S+\s+false\n$`).MatchString(out) {
		t.Errorf("member list:\n%s", out)
	}

	if _, err := runWith(srv.Admin, "etcd", "member", "add", "s1"); err == nil || !strings.Contains(err.Error(), "--peer-urls is required") {
		t.Errorf("add without --peer-urls: %v", err)
	}
	out, err = runWith(srv.Admin, "etcd", "member", "add", "s1", "--peer-urls", url1)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`--etcd-name s1 --etcd-initial-cluster (\S+) --etcd-initial-cluster-state existing`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "Member s1 added to the cluster with ID") {
		t.Fatalf("member add printed:\n%s", out)
	}
	m1 := stackedMember(t, ca, caFile, "s1", url1, m[1])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m0.Client.Put(ctx, "/test/k", "v"); err != nil {
		t.Fatal(err)
	}
	if resp, err := m1.Client.Get(ctx, "/test/k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the new member does not serve what s0 wrote: %v %v", resp, err)
	}
	out, _ = runWith(srv.Admin, "etcd", "member", "list", "--no-headers")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(out, "s1 ") {
		t.Errorf("member list after add:\n%s", out)
	}

	node := srv.ClientAs(t, "system:node:n1", pki.GroupNodes)
	if _, err := runWith(node, "etcd", "member", "list"); err == nil || !strings.Contains(err.Error(), "may not call EtcdMembers") {
		t.Errorf("a node lists etcd members: %v", err)
	}
	if _, err := runWith(srv.Admin, "etcd", "member", "remove", "s0"); err == nil || !strings.Contains(err.Error(), "answering this request") {
		t.Errorf("remove the answering server's member: %v", err)
	}
	// etcd refuses while the new member has been connected for under 5s.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err = runWith(srv.Admin, "etcd", "member", "remove", "s1")
		if err == nil || !strings.Contains(err.Error(), "unhealthy cluster") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, "(s1) removed from the cluster") {
		t.Fatalf("remove s1: %q %v", out, err)
	}

	// skiffd dev's single loopback member lists, and refuses changes.
	dev := testapi.Start(t)
	devSrv := testapi.StartWith(t, testapi.Options{Configure: func(c *apiserver.Config) {
		c.Etcd = embedetcd.Membership{Client: dev.Etcd.Client, Self: dev.Etcd.MemberID()}
	}})
	if out, err := runWith(devSrv.Admin, "etcd", "member", "list", "--no-headers"); err != nil || !strings.Contains(out, "started") {
		t.Errorf("list a single member: %q %v", out, err)
	}
	if _, err := runWith(devSrv.Admin, "etcd", "member", "add", "x", "--peer-urls", "https://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "single member on loopback") {
		t.Errorf("add to a single loopback member: %v", err)
	}
}
