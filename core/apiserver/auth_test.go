package apiserver_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
)

// A client certificate that expires while its connection is open no
// longer gets in: each request checks it, not only the handshake.
func TestExpiredClientCertificateOnAnOpenConnection(t *testing.T) {
	s := testapi.Start(t)
	short := *s.CA
	short.ClientValidity = 3 * time.Second
	kp, err := short.IssueClient("system:node:n1", []string{pki.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kp.CertPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c := testapi.Connect(t, s.Addr, s.CA.CertPEM, kp)
	ctx := context.Background()
	if _, err := c.API.Version(ctx, &apipb.VersionRequest{}); err != nil {
		t.Fatalf("with a valid certificate: %v", err)
	}
	time.Sleep(time.Until(leaf.NotAfter) + 200*time.Millisecond)
	_, err = c.API.Version(ctx, &apipb.VersionRequest{})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), `client certificate of "system:node:n1" is valid from`) {
		t.Fatalf("on the same connection after the certificate expired: %v, want Unauthenticated saying so", err)
	}
}
