package apiserver

// The standard gRPC health service (grpc.health.v1.Health), for load
// balancers in front of several API servers: a server whose etcd member
// has lost quorum still accepts connections, but cannot serve, so health
// follows etcd. Check and Watch need no client certificate (auth.go).

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/store"
)

const (
	// healthKey is what the health check reads; it need not exist.
	healthKey = "/skiff/health-check"
	// healthInterval is how often etcd is checked, healthTimeout how long
	// one check may take.
	healthInterval = time.Second
	healthTimeout  = 2 * time.Second
)

// healthServices are the services whose status is reported: "" (the
// server as a whole) and the API.
var healthServices = []string{"", apipb.Skiff_ServiceDesc.ServiceName}

// startHealth registers the health service on g and keeps its status
// until ctx ends: SERVING while a linearizable read of etcd succeeds,
// NOT_SERVING otherwise (and before the first check).
func startHealth(ctx context.Context, g *grpc.Server, st *store.Store) {
	h := health.NewServer()
	for _, svc := range healthServices {
		h.SetServingStatus(svc, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	healthpb.RegisterHealthServer(g, h)
	go func() {
		defer h.Shutdown()
		t := time.NewTicker(healthInterval)
		defer t.Stop()
		for {
			status := etcdHealth(ctx, st)
			for _, svc := range healthServices {
				h.SetServingStatus(svc, status)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// etcdHealth reads healthKey: etcd's reads are linearizable by default,
// so this needs a quorum of the members.
func etcdHealth(ctx context.Context, st *store.Store) healthpb.HealthCheckResponse_ServingStatus {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if _, err := st.Get(ctx, healthKey); err != nil && !errors.Is(err, store.ErrNotFound) {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return healthpb.HealthCheckResponse_SERVING
}
