package embedetcd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/pki"
)

const testPeerCN = "skiff-etcd-peer"

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// testCluster makes the options of n members named m0, m1, ... on
// loopback, each with its data dir and a peer certificate of one test CA.
func testCluster(t *testing.T, n int) (*pki.CA, []Options) {
	t.Helper()
	caDir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(caDir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	var entries []string
	for i := range n {
		names[i] = "m" + string(rune('0'+i))
		entries = append(entries, names[i]+"=https://"+freeAddr(t))
	}
	opts := make([]Options, n)
	for i := range n {
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key")
		if _, err := ca.EnsureServerFiles(cert, key, testPeerCN, nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
			t.Fatal(err)
		}
		opts[i] = Options{
			Dir: dir, Name: names[i], InitialCluster: strings.Join(entries, ","),
			PeerTLS: PeerTLS{CertFile: cert, KeyFile: key, TrustedCAFile: filepath.Join(caDir, "ca.crt"), AllowedCNs: []string{testPeerCN}},
		}
	}
	return ca, opts
}

// startAll starts the members together: each waits for a quorum.
func startAll(t *testing.T, opts []Options) []*Etcd {
	t.Helper()
	members := make([]*Etcd, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i, o := range opts {
		wg.Go(func() { members[i], errs[i] = StartWith(context.Background(), o) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, m := range members {
				if m != nil {
					m.Close()
				}
			}
			t.Fatalf("member %s: %v", opts[i].Name, err)
		}
	}
	return members
}

func put(t *testing.T, e *Etcd, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Client.Put(ctx, key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func get(t *testing.T, e *Etcd, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.Client.Get(ctx, key) // linearizable: needs the member caught up
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// Three members form one cluster over peer TLS; it survives one member's
// stop, and the member catches up when it starts again from its data dir.
func TestThreeMembers(t *testing.T) {
	ca, opts := testCluster(t, 3)
	members := startAll(t, opts)
	defer func() {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := members[0].Client.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Members) != 3 {
		t.Fatalf("%d members, want 3: %v", len(list.Members), list.Members)
	}
	for _, m := range list.Members {
		if len(m.PeerURLs) != 1 || !strings.HasPrefix(m.PeerURLs[0], "https://127.0.0.1:") {
			t.Errorf("member %s: peer URLs %v, want one https loopback URL", m.Name, m.PeerURLs)
		}
	}

	put(t, members[0], "/test/a", "1")
	if got := get(t, members[2], "/test/a"); got != "1" {
		t.Fatalf("read through m2 = %q, want 1 (written through m0)", got)
	}

	checkPeerAuth(t, ca, opts[0])

	// Two of three keep a quorum.
	members[1].Close()
	members[1] = nil
	put(t, members[0], "/test/b", "2")
	put(t, members[2], "/test/c", "3")
	if got := get(t, members[0], "/test/c"); got != "3" {
		t.Fatalf("read through m0 = %q, want 3", got)
	}

	// m1 starts again from its data dir (the initial cluster is not used
	// again) and catches up.
	if members[1], err = StartWith(context.Background(), opts[1]); err != nil {
		t.Fatalf("restart m1: %v", err)
	}
	if got := get(t, members[1], "/test/b"); got != "2" {
		t.Errorf("read through restarted m1 = %q, want 2", got)
	}
	if got := get(t, members[1], "/test/c"); got != "3" {
		t.Errorf("read through restarted m1 = %q, want 3", got)
	}
	put(t, members[1], "/test/d", "4")
	if got := get(t, members[2], "/test/d"); got != "4" {
		t.Errorf("read through m2 = %q, want 4 (written through restarted m1)", got)
	}

	// One of three has no quorum: a linearizable read fails (what the API
	// server's health check relies on).
	members[0].Close()
	members[2].Close()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := members[1].Client.Get(ctx, "/test/a"); err == nil {
		t.Error("a member without quorum answered a linearizable read")
	}
}

// checkPeerAuth checks that a member's peer listener takes a peer
// certificate, and no other certificate of the CA, nor none.
func checkPeerAuth(t *testing.T, ca *pki.CA, o Options) {
	t.Helper()
	self, _, err := o.Self()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ca.IssueClient("admin", []string{pki.GroupAdmins})
	if err != nil {
		t.Fatal(err)
	}
	adminCert, err := admin.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	peerCert, err := tls.LoadX509KeyPair(o.PeerTLS.CertFile, o.PeerTLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"peer certificate", []tls.Certificate{peerCert}, true},
		{"admin certificate of the same CA", []tls.Certificate{adminCert}, false},
		{"no certificate", nil, false},
	} {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: tc.certs, RootCAs: pool}}}
		resp, err := c.Get(self.PeerURL.String() + "/members")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = &net.AddrError{Err: resp.Status}
			}
		}
		if (err == nil) != tc.ok {
			t.Errorf("GET /members of a member's peer listener with %s: err = %v, want success %v", tc.name, err, tc.ok)
		}
		c.CloseIdleConnections()
	}
}

// A member that cannot reach a quorum gives up, naming the members it did
// not reach.
func TestMembersNotReached(t *testing.T) {
	_, opts := testCluster(t, 3)
	o := opts[0]
	o.ReadyTimeout = 2 * time.Second
	_, err := StartWith(context.Background(), o)
	if err == nil {
		t.Fatal("a member alone of three started")
	}
	t.Log(err)
	for _, want := range []string{`member "m0"`, "not ready after 2s", "members not reached: m1 (https://127.0.0.1:", "), m2 (https://127.0.0.1:", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// Wrong options fail before etcd starts, saying what is wrong.
func TestOptionErrors(t *testing.T) {
	_, opts := testCluster(t, 3)
	base := opts[0]
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"name not in the cluster", func(o *Options) { o.Name = "m9" }, `member name "m9" is not in the initial cluster (its members: m0, m1, m2)`},
		{"no name", func(o *Options) { o.Name = "" }, "a member of several needs its name"},
		{"no cluster", func(o *Options) { o.InitialCluster = "" }, `member "m0": the initial cluster is required`},
		{"peer listen not IP:PORT", func(o *Options) { o.PeerListen = "localhost:2380" }, `peer listen address: "localhost" is not an IP address`},
		{"no peer TLS", func(o *Options) { o.PeerTLS = PeerTLS{} }, "peer TLS: a certificate, its key and the trusted CA are required"},
		{"bad cluster", func(o *Options) { o.InitialCluster = "m0=http://127.0.0.1:2380" }, `initial cluster: member "m0": peer URL "http://127.0.0.1:2380": want https://IP:PORT`},
	} {
		o := base
		tc.change(&o)
		_, err := StartWith(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestParseInitialCluster(t *testing.T) {
	members, err := ParseInitialCluster("a=https://10.0.0.1:2380, b=https://[fd00::2]:2380,c=https://10.0.0.3:2381/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range members {
		got = append(got, m.Name+"="+m.PeerURL.String())
	}
	if want := "a=https://10.0.0.1:2380 b=https://[fd00::2]:2380 c=https://10.0.0.3:2381"; strings.Join(got, " ") != want {
		t.Errorf("parsed %v, want %s", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "no members"},
		{"a=https://10.0.0.1:2380,", `entry "": want NAME=https://IP:PORT`},
		{"https://10.0.0.1:2380", `entry "https://10.0.0.1:2380": want NAME=https://IP:PORT`},
		{"a b=https://10.0.0.1:2380", `member "a b": name may contain only`},
		{"a=http://10.0.0.1:2380", `member "a": peer URL "http://10.0.0.1:2380": want https://IP:PORT (peer traffic is TLS)`},
		{"a=https://node-a:2380", `member "a": peer URL "https://node-a:2380": want https://IP:PORT: "node-a" is not an IP address`},
		{"a=https://10.0.0.1", `member "a": peer URL "https://10.0.0.1": want https://IP:PORT: "10.0.0.1" is not IP:PORT`},
		{"a=https://10.0.0.1:0", `port "0" is not a number in 1-65535`},
		{"a=https://0.0.0.0:2380", "0.0.0.0 is no address to reach a member at"},
		{"a=https://10.0.0.1:2380/x", "without user, path or query"},
		{"a=https://10.0.0.1:2380,a=https://10.0.0.2:2380", `member "a" is listed twice`},
		{"a=https://10.0.0.1:2380,b=https://10.0.0.1:2380", `members "a" and "b" have the same peer URL https://10.0.0.1:2380`},
	} {
		_, err := ParseInitialCluster(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseInitialCluster(%q): err = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

// The data dir of a single member does not silently go on as a single
// member when it is started as a member of several.
func TestSingleMemberDataDirCannotJoin(t *testing.T) {
	_, opts := testCluster(t, 1)
	e, err := Start(context.Background(), opts[0].Dir)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	_, err = StartWith(context.Background(), opts[0])
	if err == nil || !strings.Contains(err.Error(), "its data dir holds a member with peer URLs [http://127.0.0.1:") {
		t.Fatalf("err = %v, want the data dir's other member named", err)
	}
}

// Without a name and initial cluster, StartWith is the single member on
// loopback over plain http.
func TestSingleMember(t *testing.T) {
	e, err := StartWith(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if !strings.HasPrefix(e.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint %s, want plain http on loopback", e.Endpoint)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := e.Client.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Members) != 1 || list.Members[0].Name != "skiff" || !strings.HasPrefix(list.Members[0].PeerURLs[0], "http://127.0.0.1:") {
		t.Errorf("members %v, want one named skiff with a plain http loopback peer URL", list.Members)
	}
	put(t, e, "/k", "v")
	if got := get(t, e, "/k"); got != "v" {
		t.Errorf("got %q", got)
	}
}
