package apiserver_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// The gRPC health service answers without a client certificate, as a load
// balancer calls it: SERVING while etcd answers, NOT_SERVING once it
// does not. The rest stays closed to such callers.
func TestHealthFollowsEtcd(t *testing.T) {
	s := testapi.Start(t)
	// TLS with the cluster CA, and no client certificate.
	conn, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.CA.Pool(), MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := w.Recv()
			if err != nil {
				t.Fatalf("watching health for %v: %v", want, err)
			}
			if resp.Status == want {
				return
			}
		}
	}
	waitFor(healthpb.HealthCheckResponse_SERVING)
	for _, svc := range []string{"", apipb.Skiff_ServiceDesc.ServiceName} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v; want SERVING", svc, resp, err)
		}
	}
	// Only Check and Watch are open without a certificate.
	if _, err := health.List(ctx, &healthpb.HealthListRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("health List without a client certificate: %v, want Unauthenticated", err)
	}
	if _, err := apipb.NewSkiffClient(conn).Version(ctx, &apipb.VersionRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Version without a client certificate: %v, want Unauthenticated", err)
	}

	s.Etcd.Close()
	waitFor(healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Check after etcd closed = %v, %v; want NOT_SERVING", resp, err)
	}
}
