package apiserver

// Joining with a bootstrap token.
//
// `skiffd server` makes a bootstrap token at first start (kubeadm's format,
// "[a-z0-9]{6}.[a-z0-9]{16}", kept in <data-dir>/join-token, mode 0600).
// An agent that has it calls Join without a client certificate (the one
// method the auth interceptor lets through unauthenticated) and gets the
// cluster CA, a node client certificate (system:node:<name>, group
// system:nodes) and a serving certificate for its NodeAgent server. The
// agent authenticates the server by pinning the CA ("sha256:<hex>" of the
// CA certificate's SubjectPublicKeyInfo, as kubeadm's
// --discovery-token-ca-cert-hash): it checks the pin against the CA it
// receives and that the server's certificate chains to that CA. Without a
// pin it trusts the first CA it sees (kubeadm's
// --discovery-token-unsafe-skip-ca-verification).

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
)

// JoinTokenFile is the token's file name in the server's data dir.
const JoinTokenFile = "join-token"

var tokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// joinState is what Join needs; the server holds one.
type joinState struct {
	mu    sync.Mutex
	ca    *pki.CA
	token string // "" refuses every Join
}

// SetJoinToken sets the bootstrap token Join accepts ("" disables Join).
func (s *Server) SetJoinToken(token string) {
	s.join.mu.Lock()
	defer s.join.mu.Unlock()
	s.join.token = token
}

// Join trades the bootstrap token for node credentials.
func (s *Server) Join(_ context.Context, req *apipb.JoinRequest) (*apipb.JoinResponse, error) {
	s.join.mu.Lock()
	token, ca := s.join.token, s.join.ca
	s.join.mu.Unlock()
	if token == "" || ca == nil || ca.Key == nil || subtle.ConstantTimeCompare([]byte(req.Token), []byte(token)) != 1 {
		return nil, status.Error(codes.Unauthenticated, "join: invalid bootstrap token")
	}
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return nil, status.Errorf(codes.InvalidArgument, "join: node name %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	ip := net.ParseIP(req.NodeIp)
	if ip == nil {
		return nil, status.Errorf(codes.InvalidArgument, "join: node IP %q: not an IP address", req.NodeIp)
	}
	client, err := ca.IssueClient("system:node:"+req.NodeName, []string{pki.GroupNodes})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "join: node %q: %v", req.NodeName, err)
	}
	serving, err := ca.IssueServer(req.NodeName, []string{req.NodeName}, []net.IP{ip})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "join: node %q: %v", req.NodeName, err)
	}
	return &apipb.JoinResponse{CaPem: ca.CertPEM, ClientCert: client.CertPEM, ClientKey: client.KeyPEM,
		ServingCert: serving.CertPEM, ServingKey: serving.KeyPEM}, nil
}

// LoadOrCreateJoinToken reads the token at path, or makes one there (mode
// 0600). created tells whether it was made now.
func LoadOrCreateJoinToken(path string) (token string, created bool, err error) {
	data, err := os.ReadFile(path)
	if err == nil {
		token = strings.TrimSpace(string(data))
		if !tokenRE.MatchString(token) {
			return "", false, fmt.Errorf("join token %s: malformed (want [a-z0-9]{6}.[a-z0-9]{16})", path)
		}
		return token, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("join token %s: %w", path, err)
	}
	token = randomToken(6) + "." + randomToken(16)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("join token %s: %w", path, err)
	}
	return token, true, nil
}

func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// CACertHash is the pin of a CA certificate: "sha256:" and the hex SHA-256
// of its SubjectPublicKeyInfo (kubeadm's format).
func CACertHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// JoinCluster calls Join on the server at addr. With pin non-empty, the CA
// returned must match it; in every case the server's certificate must
// chain to the CA returned (and name addr's host).
func JoinCluster(ctx context.Context, addr, token, pin, nodeName, nodeIP string) (*apipb.JoinResponse, error) {
	if pin != "" && !strings.HasPrefix(pin, "sha256:") {
		return nil, fmt.Errorf("--ca-cert-hash %q: want sha256:<hex>", pin)
	}
	var mu sync.Mutex
	var serverChain []*x509.Certificate
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified below, against the pinned CA the server hands out.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			mu.Lock()
			defer mu.Unlock()
			serverChain = nil
			for _, der := range raw {
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return err
				}
				serverChain = append(serverChain, c)
			}
			return nil
		},
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", addr, err)
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := apipb.NewSkiffClient(conn).Join(cctx, &apipb.JoinRequest{Token: token, NodeName: nodeName, NodeIp: nodeIP}, grpc.WaitForReady(true))
	if err != nil {
		return nil, fmt.Errorf("join %s as node %q: %w", addr, nodeName, err)
	}
	block, _ := pem.Decode(resp.CaPem)
	if block == nil {
		return nil, fmt.Errorf("join %s: the server sent no CA certificate", addr)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("join %s: CA certificate: %w", addr, err)
	}
	if pin != "" && CACertHash(ca) != strings.ToLower(pin) {
		return nil, fmt.Errorf("join %s: the server's CA %s does not match --ca-cert-hash %s", addr, CACertHash(ca), pin)
	}
	mu.Lock()
	chain := serverChain
	mu.Unlock()
	if len(chain) == 0 {
		return nil, fmt.Errorf("join %s: no server certificate seen", addr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host}); err != nil {
		return nil, fmt.Errorf("join %s: the server's certificate is not from the CA it sent: %w", addr, err)
	}
	return resp, nil
}
