package apiserver_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

// startJoinable runs an API server that accepts token for Join.
func startJoinable(t *testing.T, token string) (addr string, ca *pki.CA) {
	t.Helper()
	dir := t.TempDir()
	e, err := embedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if ca, err = pki.LoadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServer("skiff-apiserver", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	toAgents, err := ca.IssueClient("skiff-apiserver", []string{pki.GroupAdmins})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{Store: store.New(e.Client), CA: ca, ServingCert: serving, AgentClientCert: toAgents})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetJoinToken(token)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), ca
}

func TestJoinIssuesNodeCredentials(t *testing.T) {
	token, created, err := apiserver.LoadOrCreateJoinToken(filepath.Join(t.TempDir(), apiserver.JoinTokenFile))
	if err != nil || !created {
		t.Fatalf("make token: %v (created %v)", err, created)
	}
	addr, ca := startJoinable(t, token)
	ctx := context.Background()
	pin := apiserver.CACertHash(ca.Cert)

	if _, err := apiserver.JoinCluster(ctx, addr, "abcdef.0123456789abcdef", pin, "n1", "10.0.0.1"); status.Code(unwrapGRPC(err)) != codes.Unauthenticated {
		t.Errorf("join with a wrong token: %v, want Unauthenticated", err)
	}
	if _, err := apiserver.JoinCluster(ctx, addr, token, "sha256:00", "n1", "10.0.0.1"); err == nil {
		t.Error("join with a wrong CA pin succeeded")
	}
	resp, err := apiserver.JoinCluster(ctx, addr, token, pin, "n1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := clientconfig.New("n1", addr, resp.CaPem, resp.ClientCert, resp.ClientKey).Current("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(r)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The node may do what nodes do, and no more.
	if _, _, err := client.List[corev1.Pod](ctx, c, api.Pods, "", client.ListOptions{}); err != nil {
		t.Errorf("joined node lists pods: %v", err)
	}
	if _, err := c.API.ListImages(ctx, &apipb.ListImagesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("joined node lists images: %v, want PermissionDenied", err)
	}
	if _, err := (pki.KeyPair{CertPEM: resp.ServingCert, KeyPEM: resp.ServingKey}).TLSCertificate(); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
}

// TestUnauthenticatedCallsAreRefused: without a client certificate only
// Join answers; every other method is refused.
func TestUnauthenticatedCallsAreRefused(t *testing.T) {
	token, _, err := apiserver.LoadOrCreateJoinToken(filepath.Join(t.TempDir(), apiserver.JoinTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	addr, ca := startJoinable(t, token)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	anon := apipb.NewSkiffClient(conn)
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without a certificate: %v, want Unauthenticated", name, err)
		}
	}
	_, err = anon.List(ctx, &apipb.ListRequest{Resource: "pods"})
	check("List", err)
	_, err = anon.Get(ctx, &apipb.GetRequest{Resource: "nodes", Name: "x"})
	check("Get", err)
	_, err = anon.Version(ctx, &apipb.VersionRequest{})
	check("Version", err)
	_, err = anon.ReportPlugins(ctx, &apipb.ReportPluginsRequest{Node: "x"})
	check("ReportPlugins", err)
	w, err := anon.Watch(ctx, &apipb.WatchRequest{Resource: "pods"})
	if err == nil {
		_, err = w.Recv()
	}
	check("Watch", err)
	if _, err := anon.Join(ctx, &apipb.JoinRequest{Token: token, NodeName: "n2", NodeIp: "10.0.0.2"}); err != nil {
		t.Errorf("Join without a certificate: %v", err)
	}
	if _, err := anon.Join(ctx, &apipb.JoinRequest{Token: "", NodeName: "n2", NodeIp: "10.0.0.2"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Join without a token: %v, want Unauthenticated", err)
	}
	// The token file is private.
	dir := t.TempDir()
	p := filepath.Join(dir, apiserver.JoinTokenFile)
	if _, _, err := apiserver.LoadOrCreateJoinToken(p); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	again, created, err := apiserver.LoadOrCreateJoinToken(p)
	if err != nil || created || again == "" {
		t.Errorf("reload token: %q created=%v %v", again, created, err)
	}
}

func unwrapGRPC(err error) error {
	for e := err; e != nil; {
		if _, ok := status.FromError(e); ok {
			return e
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return err
}
