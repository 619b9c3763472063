package apiserver

import (
	"context"
	"crypto/x509"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
)

// Authorization by group, checked on every call:
//   - system:masters may call everything;
//   - system:nodes (agents) may use the object verbs, within what the
//     node authorizer allows each object request (nodeauth.go: their own
//     Node, Lease and pods, and only the secrets their pods use), and
//     report their plugins, but not load images or relay streams (Logs,
//     Exec and PortForward stay out of nodeMethods: a node must not run
//     commands in, or open connections to, pods of other nodes);
//   - anyone else is refused.
//
// Authentication is the TLS client certificate, verified against the
// cluster CA during the handshake (VerifyClientCertIfGiven: a certificate
// that does not verify fails the handshake). A caller without one reaches
// only Join (join.go), which checks the bootstrap token, and the health
// service's Check and Watch (health.go); every other method refuses it
// here with Unauthenticated.
var nodeMethods = map[string]bool{
	"Create": true, "Get": true, "List": true, "Update": true, "Delete": true, "Watch": true,
	"ReportPlugins": true, "Version": true,
}

func identityFrom(ctx context.Context) (pki.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return pki.Identity{}, status.Error(codes.Unauthenticated, "no peer")
	}
	tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(tlsInfo.State.VerifiedChains) == 0 || len(tlsInfo.State.VerifiedChains[0]) == 0 {
		return pki.Identity{}, status.Error(codes.Unauthenticated, "a client certificate signed by the cluster CA is required")
	}
	// The handshake verified the chain once; a connection outlives that, so
	// each request checks the client certificate's validity again, as
	// Kubernetes' x509 authenticator does (a node whose certificate expired
	// on an open connection is not let in).
	leaf := tlsInfo.State.VerifiedChains[0][0]
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return pki.Identity{}, status.Errorf(codes.Unauthenticated, "client certificate of %q is valid from %s to %s, not now",
			leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return identityOfChain(tlsInfo.State.VerifiedChains[0]), nil
}

func identityOfChain(chain []*x509.Certificate) pki.Identity {
	return pki.IdentityOf(chain[0])
}

// unauthenticatedMethods may be called without a client certificate: Join,
// and the health service's Check and Watch (health.go), which load
// balancers call; its List stays authenticated.
var unauthenticatedMethods = map[string]bool{
	"/" + apipb.Skiff_ServiceDesc.ServiceName + "/Join": true,
	healthpb.Health_Check_FullMethodName:                true,
	healthpb.Health_Watch_FullMethodName:                true,
}

func authorize(ctx context.Context, fullMethod string) error {
	if unauthenticatedMethods[fullMethod] {
		return nil
	}
	id, err := identityFrom(ctx)
	if err != nil {
		return err
	}
	if id.InGroup(pki.GroupAdmins) {
		return nil
	}
	method := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	if id.InGroup(pki.GroupNodes) && nodeMethods[method] {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "user %q (groups %v) may not call %s", id.User, id.Groups, method)
}

func unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}
