// Package testapi starts a real API server on embedded etcd for tests of the
// core's API clients (controllers, agent pieces, the server itself).
package testapi

import (
	"context"
	"net"
	"testing"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

// Server is a running API server for one test.
type Server struct {
	Addr  string
	CA    *pki.CA
	Etcd  *embedetcd.Etcd
	Admin *client.Client
	// API is the server itself; Dir holds its etcd data and CA.
	API *apiserver.Server
	Dir string
}

// Options change the server a test starts.
type Options struct {
	// Configure changes the server's configuration before it is made.
	Configure func(*apiserver.Config)
	// Setup runs on the made server before it serves.
	Setup func(*apiserver.Server)
}

// Start runs etcd and the API server until the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	e, err := embedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
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
	cfg := apiserver.Config{Store: store.New(e.Client), CA: ca, ServingCert: serving, AgentClientCert: toAgents}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	srv, err := apiserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Setup != nil {
		o.Setup(srv)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	s := &Server{Addr: lis.Addr().String(), CA: ca, Etcd: e, API: srv, Dir: dir}
	s.Admin = s.ClientAs(t, "admin", pki.GroupAdmins)
	return s
}

// ClientAs connects as user in groups.
func (s *Server) ClientAs(t testing.TB, user string, groups ...string) *client.Client {
	t.Helper()
	kp, err := s.CA.IssueClient(user, groups)
	if err != nil {
		t.Fatal(err)
	}
	return Connect(t, s.Addr, s.CA.CertPEM, kp)
}

// Connect connects to the API server at addr, trusting caPEM and
// presenting kp, until the test ends.
func Connect(t testing.TB, addr string, caPEM []byte, kp pki.KeyPair) *client.Client {
	t.Helper()
	r, err := clientconfig.New("test", addr, caPEM, kp.CertPEM, kp.KeyPEM).Current("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
