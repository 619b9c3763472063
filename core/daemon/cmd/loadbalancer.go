package cmd

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/loadbalancer"
)

// newLoadBalancer is `skiffd loadbalancer`: one address in front of several
// skiffd servers, the haproxy of kind's external-load-balancer container
// (package loadbalancer).
func newLoadBalancer(out, errOut io.Writer) *cobra.Command {
	var c loadbalancer.Config
	cmd := &cobra.Command{
		Use:   "loadbalancer",
		Short: "Run a TCP load balancer in front of the API servers of an HA control plane",
		Long: `Run an L4 TCP load balancer in front of several skiffd servers: the one API address of an
HA control plane, as the haproxy kind runs in front of its control-plane nodes. TLS passes
through untouched, so the API servers' certificates must name the load balancer's address.

A new connection goes to the healthy backend with the fewest open connections (ties round
robin); a backend that refuses it is skipped for the next. With --ca-file every backend gets a
gRPC health check over TLS verified against that CA each --health-interval and must answer
SERVING (a server without the health service counts as healthy once its handshake worked);
without it, a TCP connect. A backend is out after 2 failed checks in a row, or at once when it
refuses a connection, and back after 1 good check. When no backend is healthy, all are tried.`,
		Example: `  skiffd loadbalancer --listen 172.18.0.10:6443 --backend 172.18.0.2:6443 --backend 172.18.0.3:6443 \
    --backend 172.18.0.4:6443 --ca-file /var/lib/skiff/pki/ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c.Log = slog.New(slog.NewTextHandler(errOut, nil))
			lb, err := loadbalancer.New(c)
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", c.Listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", c.Listen, err)
			}
			fmt.Fprintf(out, "skiff load balancer on %s, backends %s\n", lis.Addr(), strings.Join(c.Backends, ", "))
			return lb.Serve(cmd.Context(), lis)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Listen, "listen", "", "IP:PORT to serve on, the API address clients use (required)")
	f.StringSliceVar(&c.Backends, "backend", nil, "IP:PORT of an API server (repeatable or comma-separated; at least one)")
	f.StringVar(&c.CAFile, "ca-file", "", "cluster CA certificate (PEM): check backends with gRPC health over TLS verified against it instead of a TCP connect")
	f.DurationVar(&c.HealthInterval, "health-interval", time.Second, "how often every backend is checked")
	return cmd
}
