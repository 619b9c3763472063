package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/pki"
)

// The etcd member flags are checked together, each error naming its flag.
func TestEtcdMemberOptionErrors(t *testing.T) {
	const cluster = "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380,c=https://10.0.0.3:2380"
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"name not in the cluster", Options{EtcdName: "d", EtcdInitialCluster: cluster},
			`--etcd-name "d" is not a member of --etcd-initial-cluster (its members: a, b, c)`},
		{"no name", Options{EtcdInitialCluster: cluster}, "--etcd-initial-cluster needs --etcd-name"},
		{"no cluster", Options{EtcdName: "a"}, "--etcd-name and --etcd-peer-listen need --etcd-initial-cluster"},
		{"peer listen alone", Options{EtcdPeerListen: "0.0.0.0:2380"}, "--etcd-name and --etcd-peer-listen need --etcd-initial-cluster"},
		{"external etcd too", Options{EtcdName: "a", EtcdInitialCluster: cluster, EtcdEndpoints: []string{"http://10.0.0.9:2379"}},
			"--etcd-endpoints (an external etcd) and --etcd-name, --etcd-initial-cluster, --etcd-peer-listen (embedded members) exclude each other"},
		{"plain http", Options{EtcdName: "a", EtcdInitialCluster: "a=http://10.0.0.1:2380"},
			`--etcd-initial-cluster "a=http://10.0.0.1:2380": member "a": peer URL "http://10.0.0.1:2380": want https://IP:PORT (peer traffic is TLS)`},
		{"host name", Options{EtcdName: "a", EtcdInitialCluster: "a=https://node-a:2380"}, `"node-a" is not an IP address`},
		{"no port", Options{EtcdName: "a", EtcdInitialCluster: "a=https://10.0.0.1"}, `"10.0.0.1" is not IP:PORT`},
		{"duplicate name", Options{EtcdName: "a", EtcdInitialCluster: "a=https://10.0.0.1:2380,a=https://10.0.0.2:2380"}, `member "a" is listed twice`},
		{"duplicate URL", Options{EtcdName: "a", EtcdInitialCluster: "a=https://10.0.0.1:2380,b=https://10.0.0.1:2380"}, `members "a" and "b" have the same peer URL`},
		{"bad peer listen", Options{EtcdName: "a", EtcdInitialCluster: cluster, EtcdPeerListen: "10.0.0.1"},
			`--etcd-peer-listen "10.0.0.1": want IP:PORT: "10.0.0.1" is not IP:PORT`},
		{"bad tls-san", Options{TLSSANs: []string{"lb.example.com,https://lb"}}, `--tls-san "https://lb": want an IP address or a DNS name, not a URL`},
		{"bad state", Options{EtcdName: "a", EtcdInitialCluster: cluster, EtcdInitialClusterState: "old"}, `--etcd-initial-cluster-state "old": want new or existing`},
		{"existing alone", Options{EtcdInitialClusterState: "existing"}, "--etcd-initial-cluster-state existing needs --etcd-name and --etcd-initial-cluster"},
	} {
		err := tc.o.validateHA()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	for _, o := range []Options{{}, {EtcdEndpoints: []string{"http://10.0.0.9:2379"}}, {EtcdName: "b", EtcdInitialCluster: cluster, EtcdPeerListen: "0.0.0.0:2380"}} {
		if err := o.validateHA(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestParseTLSSANs(t *testing.T) {
	names, ips, err := ParseTLSSANs([]string{"LB.example.com,10.0.0.10", "*.skiff.internal", "fd00::10", "lb.example.com", "10.0.0.10"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, " ") != "lb.example.com *.skiff.internal" {
		t.Errorf("names %v", names)
	}
	if len(ips) != 2 || ips[0].String() != "10.0.0.10" || ips[1].String() != "fd00::10" {
		t.Errorf("ips %v", ips)
	}
	for _, tc := range []struct{ in, want string }{
		{"lb.example.com:6443", `--tls-san "lb.example.com:6443": want an IP address or a DNS name, without a port`},
		{"10.0.0.1:6443", "without a port"},
		{"https://lb.example.com", "not a URL"},
		{"a,,b", `--tls-san "": empty entry`},
		{"under_score.example.com", `--tls-san "under_score.example.com": want an IP address or a DNS name: a lowercase RFC 1123 subdomain`},
		{"-lb", "RFC 1123"},
	} {
		_, _, err := ParseTLSSANs([]string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTLSSANs(%q): err = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The API server's certificate holds the --tls-san entries besides its
// defaults: a client that dials a load balancer's name or IP verifies it.
func TestServingCertHasTLSSANs(t *testing.T) {
	dir := t.TempDir()
	o := &Options{DataDir: dir, PKIDir: filepath.Join(dir, "pki"), Listen: "127.0.0.1:0",
		TLSSANs: []string{"lb.example.com,10.9.8.7", "fd00::7"}, Log: discardLog()}
	s := &runningServer{}
	var err error
	if s.ca, err = pki.LoadOrCreateCA(o.PKIDir); err != nil {
		t.Fatal(err)
	}
	if err := s.startEtcd(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	defer s.etcd.Close()
	if err := s.startAPI(o); err != nil {
		t.Fatal(err)
	}
	defer s.api.Stop()
	conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.ca.Pool(), ServerName: "lb.example.com"})
	if err != nil {
		t.Fatalf("TLS to the API server as lb.example.com: %v", err)
	}
	cert := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	for _, host := range []string{"lb.example.com", "10.9.8.7", "fd00::7", "localhost", "skiff-apiserver", "127.0.0.1", "::1"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("serving certificate: %v", err)
		}
	}
	if err := cert.VerifyHostname("other.example.com"); err == nil {
		t.Error("serving certificate valid for other.example.com")
	}
}

// Three servers' startEtcd, with --etcd-name and --etcd-initial-cluster
// and one cluster CA, make one etcd cluster; each member's peer
// certificate is in its PKI dir, for its peer IP.
func TestStackedEtcd(t *testing.T) {
	caDir := t.TempDir()
	if _, err := pki.LoadOrCreateCA(caDir); err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, name := range []string{"s0", "s1", "s2"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, name+"=https://"+l.Addr().String())
		l.Close()
	}
	servers := make([]*runningServer, 3)
	opts := make([]*Options, 3)
	for i := range servers {
		dir := t.TempDir()
		opts[i] = &Options{DataDir: dir, PKIDir: filepath.Join(dir, "pki"), EtcdName: "s" + string(rune('0'+i)),
			EtcdInitialCluster: strings.Join(entries, ","), Log: discardLog()}
		copyCA(t, caDir, opts[i].PKIDir) // every server shares the cluster CA
		if err := opts[i].validateHA(); err != nil {
			t.Fatal(err)
		}
		ca, err := pki.LoadOrCreateCA(opts[i].PKIDir)
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = &runningServer{ca: ca}
	}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Go(func() { errs[i] = s.startEtcd(context.Background(), opts[i]) })
	}
	wg.Wait()
	for _, s := range servers {
		if s.etcd != nil {
			defer s.etcd.Close()
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("server %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := servers[0].etcdCli.Put(ctx, "/test/k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := servers[2].etcdCli.Get(ctx, "/test/k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("read through s2: %v %v", resp, err)
	}
	data, err := os.ReadFile(filepath.Join(opts[1].PKIDir, "etcd-peer.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != EtcdPeerCN || len(cert.IPAddresses) != 1 || cert.IPAddresses[0].String() != "127.0.0.1" {
		t.Errorf("peer certificate CN %q, IPs %v", cert.Subject.CommonName, cert.IPAddresses)
	}
}

func copyCA(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ca.crt", "ca.key"} {
		data, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The peer certificate follows the member's peer IP.
func TestEtcdPeerCertFollowsIP(t *testing.T) {
	dir := t.TempDir()
	o := &Options{DataDir: dir, PKIDir: filepath.Join(dir, "pki"), EtcdName: "a", Log: discardLog()}
	ca, err := pki.LoadOrCreateCA(o.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	ipsOf := func(cluster, listen string) []string {
		t.Helper()
		o.EtcdInitialCluster, o.EtcdPeerListen = cluster, listen
		eo, err := o.etcdMember()
		if err != nil {
			t.Fatal(err)
		}
		if err := etcdMemberTLS(&eo, o, ca); err != nil {
			t.Fatal(err)
		}
		if eo.PeerTLS.CertFile != filepath.Join(o.PKIDir, "etcd-peer.crt") || eo.PeerTLS.KeyFile != filepath.Join(o.PKIDir, "etcd-peer.key") ||
			eo.PeerTLS.TrustedCAFile != filepath.Join(o.PKIDir, "ca.crt") || len(eo.PeerTLS.AllowedCNs) != 1 {
			t.Errorf("peer TLS %+v", eo.PeerTLS)
		}
		kp, err := tls.LoadX509KeyPair(eo.PeerTLS.CertFile, eo.PeerTLS.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		for _, ip := range cert.IPAddresses {
			ips = append(ips, ip.String())
		}
		return ips
	}
	if got := ipsOf("a=https://10.0.0.1:2380,b=https://10.0.0.2:2380", ""); strings.Join(got, " ") != "10.0.0.1" {
		t.Errorf("IPs %v, want 10.0.0.1", got)
	}
	if got := ipsOf("a=https://10.0.0.5:2380,b=https://10.0.0.2:2380", "0.0.0.0:2380"); strings.Join(got, " ") != "10.0.0.5" {
		t.Errorf("after the IP changed: IPs %v, want 10.0.0.5", got)
	}
	if got := ipsOf("a=https://203.0.113.5:2380,b=https://10.0.0.2:2380", "10.0.0.5:2380"); strings.Join(got, " ") != "203.0.113.5 10.0.0.5" {
		t.Errorf("behind NAT: IPs %v, want 203.0.113.5 10.0.0.5", got)
	}
}

// plugin ls names a server's own plugins by the server when there are
// several, so that one can tell which answered.
func TestServerPluginNode(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{NodeName: "host"}, "control-plane"},
		{Options{NodeName: "host", EtcdName: "ha-control-plane2", EtcdInitialCluster: "x"}, "server:ha-control-plane2"},
		{Options{NodeName: "host", EtcdEndpoints: []string{"http://etcd:2379"}}, "server:host"},
	} {
		if got := tc.o.serverPluginNode(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}

// The first of several servers has the keys the others must share before
// it waits for its peers: an operator copies them while it waits (or
// makes them beforehand with `skiffd pki init`).
func TestFirstServerMakesTheSharedKeysBeforeWaitingForPeers(t *testing.T) {
	var entries []string
	for _, name := range []string{"s0", "s1"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, name+"=https://"+l.Addr().String())
		l.Close() // s1 never starts: s0 cannot have a quorum
	}
	dir := t.TempDir()
	o := &Options{DataDir: dir, PKIDir: filepath.Join(dir, "pki"), Listen: "127.0.0.1:0", EtcdName: "s0",
		EtcdInitialCluster: strings.Join(entries, ","), Log: discardLog()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := startServer(ctx, o); err == nil {
		s.stop()
		t.Fatal("a server without a quorum started")
	}
	for _, f := range apiserver.ClusterKeyFiles {
		if _, err := os.Stat(filepath.Join(o.PKIDir, f)); err != nil {
			t.Errorf("%s was not made before the server waited for its peers: %v", f, err)
		}
	}
}
