package loadbalancer

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/skiffhq/skiff/core/pki"
)

// testCA makes a cluster CA and returns it with the path of its certificate.
func testCA(t *testing.T) (*pki.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca, filepath.Join(dir, "ca.crt")
}

// startGRPCBackend is a gRPC server on loopback with TLS from ca for the
// given IP, standing in for an API server; with withHealth it serves the
// health service, whose server it returns.
func startGRPCBackend(t *testing.T, ca *pki.CA, certIP string, withHealth bool) (string, *health.Server) {
	t.Helper()
	pair, err := ca.IssueServer("apiserver", nil, []net.IP{net.ParseIP(certIP)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	var hs *health.Server
	if withHealth {
		hs = health.NewServer()
		healthpb.RegisterHealthServer(srv, hs)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), hs
}

// The gRPC health check over TLS, one case at a time.
func TestHealthCheck(t *testing.T) {
	ca, caFile := testCA(t)
	other, _ := testCA(t)
	serving, _ := startGRPCBackend(t, ca, "127.0.0.1", true)
	notServing, hs := startGRPCBackend(t, ca, "127.0.0.1", true)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	noHealth, _ := startGRPCBackend(t, ca, "127.0.0.1", false)
	otherCA, _ := startGRPCBackend(t, other, "127.0.0.1", true)
	otherIP, _ := startGRPCBackend(t, ca, "127.0.0.2", true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := lis.Addr().String()
	lis.Close()

	lb, err := New(Config{Listen: "127.0.0.1:0", Backends: []string{serving}, CAFile: caFile, HealthInterval: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr, wantErr string
	}{
		{"SERVING", serving, ""},
		{"NOT_SERVING", notServing, "NOT_SERVING"},
		{"no health service: the TLS handshake suffices", noHealth, ""},
		{"certificate from another CA", otherCA, "certificate signed by unknown authority"},
		{"certificate for another IP", otherIP, "certificate is valid for 127.0.0.2, not 127.0.0.1"},
		{"nothing listening", refused, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := lb.check(context.Background(), tc.addr)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("check: %v, want healthy", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("check: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
	if err := lb.check(context.Background(), refused); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("check of a closed port: %v, want ECONNREFUSED (it marks the backend down at once)", err)
	}
}

// healthClient is a gRPC client through the load balancer: one TCP
// connection, verifying the API server's certificate for the load
// balancer's IP.
func healthClient(t *testing.T, ca *pki.CA, addr string) healthpb.HealthClient {
	t.Helper()
	creds := credentials.NewTLS(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

func checkThrough(t *testing.T, hc healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health Check %q through the load balancer: %v", service, err)
	}
	return resp.Status
}

// twoServingBackends is a load balancer in front of two serving backends,
// a and b; each also answers Check for its own name, so a client can tell
// which one it reached. hb is b's health server.
func twoServingBackends(t *testing.T) (ca *pki.CA, lb *testLB, a, b string, hb *health.Server) {
	t.Helper()
	ca, caFile := testCA(t)
	a, ha := startGRPCBackend(t, ca, "127.0.0.1", true)
	b, hb = startGRPCBackend(t, ca, "127.0.0.1", true)
	ha.SetServingStatus("a", healthpb.HealthCheckResponse_SERVING)
	hb.SetServingStatus("b", healthpb.HealthCheckResponse_SERVING)
	return ca, startLB(t, Config{Backends: []string{a, b}, CAFile: caFile}), a, b, hb
}

// An API server whose health says NOT_SERVING (its etcd lost quorum) is
// taken out after two checks; clients through the load balancer reach the
// serving one; once it serves again a check puts it back.
func TestNotServingBackendIsRoutedAround(t *testing.T) {
	ca, lb, _, b, hb := twoServingBackends(t)
	ctx := context.Background()

	hb.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	lb.checkAll(ctx)
	if !lb.healthy(b) {
		t.Fatal("backend unhealthy after one failed check, want two")
	}
	lb.checkAll(ctx)
	if lb.healthy(b) {
		t.Fatal("NOT_SERVING backend still healthy after two failed checks")
	}
	for i := range 4 { // each client keeps its connection open
		if got := checkThrough(t, healthClient(t, ca, lb.addr), ""); got != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("client %d through the load balancer reached a server that says %s", i, got)
		}
	}

	hb.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	lb.checkAll(ctx)
	if !lb.healthy(b) {
		t.Fatal("backend still unhealthy after a good check")
	}
	// a holds 4 connections, b none: the next client goes to b.
	if got := checkThrough(t, healthClient(t, ca, lb.addr), "b"); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf(`client after b came back: Check("b") = %s`, got)
	}
}

// The flags' errors name the flag.
func TestConfigValidation(t *testing.T) {
	_, caFile := testCA(t)
	notPEM := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := Config{Listen: "0.0.0.0:6443", Backends: []string{"10.0.0.2:6443", "[fd00::3]:6443"}, CAFile: caFile, HealthInterval: 1}
	if _, err := New(ok); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no listen", func(c *Config) { c.Listen = "" }, "--listen IP:PORT is required"},
		{"listen host name", func(c *Config) { c.Listen = "localhost:6443" }, `--listen "localhost:6443": want IP:PORT`},
		{"no backend", func(c *Config) { c.Backends = nil }, "at least one --backend IP:PORT is required"},
		{"backend without port", func(c *Config) { c.Backends = []string{"10.0.0.2"} }, `--backend "10.0.0.2": want IP:PORT`},
		{"backend port 0", func(c *Config) { c.Backends = []string{"10.0.0.2:0"} }, "--backend 10.0.0.2:0: port 0"},
		{"backend unspecified", func(c *Config) { c.Backends = []string{"0.0.0.0:6443"} }, "--backend 0.0.0.0:6443: give the API server's own IP"},
		{"backend twice", func(c *Config) { c.Backends = []string{"10.0.0.2:6443", "10.0.0.3:6443", "10.0.0.2:6443"} }, "--backend 10.0.0.2:6443 is given twice"},
		{"backend twice, mapped", func(c *Config) { c.Backends = []string{"10.0.0.2:6443", "[::ffff:10.0.0.2]:6443"} }, "--backend [::ffff:10.0.0.2]:6443 is given twice"},
		{"backend is listen", func(c *Config) { c.Listen, c.Backends = "10.0.0.2:6443", []string{"10.0.0.2:6443"} }, "--backend 10.0.0.2:6443 is the --listen address"},
		{"interval 0", func(c *Config) { c.HealthInterval = 0 }, "--health-interval 0s: must be positive"},
		{"CA missing", func(c *Config) { c.CAFile = "/nonexistent/ca.crt" }, "--ca-file: open /nonexistent/ca.crt: no such file or directory"},
		{"CA not PEM", func(c *Config) { c.CAFile = notPEM }, "--ca-file: " + notPEM + ": no PEM certificate in it"},
	} {
		c := ok
		tc.edit(&c)
		_, err := New(c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// A client whose long-lived connection goes to a backend that turns
// unhealthy is cut off, and its next calls reach a healthy backend (gRPC
// reconnects through the load balancer), instead of staying pinned to a
// server whose etcd lost quorum.
func TestConnectionsToAnUnhealthyBackendAreCut(t *testing.T) {
	ca, lb, _, b, hb := twoServingBackends(t)
	ctx := context.Background()

	reaches := func(hc healthpb.HealthClient, name string) bool {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{Service: name})
		return err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING
	}
	// Two clients: the load balancer spreads them, one on each backend.
	var onB healthpb.HealthClient
	for range 2 {
		hc := healthClient(t, ca, lb.addr)
		if reaches(hc, "b") {
			onB = hc
		}
	}
	if onB == nil {
		t.Fatal("no client reached b")
	}

	hb.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	lb.checkAll(ctx)
	lb.checkAll(ctx)
	if lb.healthy(b) {
		t.Fatal("NOT_SERVING backend still healthy after two failed checks")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !reaches(onB, "a") {
		if time.Now().After(deadline) {
			t.Fatal("the client that was on b never reached a: its connection was not cut")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
