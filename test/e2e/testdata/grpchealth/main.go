// Command grpchealth serves the standard gRPC health service, for the e2e
// test of gRPC probes: the service "" is SERVING, "broken" is NOT_SERVING.
package main

import (
	"flag"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	addr := flag.String("listen", ":9090", "address to serve on")
	flag.Parse()
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus("broken", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, h)
	log.Printf("serving gRPC health on %s", lis.Addr())
	log.Fatal(s.Serve(lis))
}
