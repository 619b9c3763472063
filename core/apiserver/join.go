package apiserver

// Joining with a bootstrap token.
//
// Bootstrap tokens are kubeadm's: "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}),
// each kept as the Secret kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token (registry/secrets.go), encrypted at rest
// like every secret, optionally expiring, made by `skiffd server` at first
// start (also written to <data-dir>/join-token, mode 0600) and by
// `skiffctl token create`, and deleted once expired by the token cleaner
// (controllers/tokencleaner.go).
// An agent that has one calls Join without a client certificate (the one
// method the auth interceptor lets through unauthenticated); Join checks the
// token as Kubernetes' bootstrap token authenticator does and returns the
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
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
)

// JoinTokenFile is the file name, in the server's data dir, of the token
// made at first start.
const JoinTokenFile = "join-token"

// joinState is what Join needs; the server holds one.
type joinState struct {
	mu  sync.Mutex
	ca  *pki.CA
	log *slog.Logger // nil: slog.Default()
}

// SetJoinLog sets where Join logs why it refused a token (the caller
// only learns that the token is invalid).
func (s *Server) SetJoinLog(l *slog.Logger) {
	s.join.mu.Lock()
	defer s.join.mu.Unlock()
	s.join.log = l
}

// errInvalidToken is all a caller learns about a refused token.
var errInvalidToken = status.Error(codes.Unauthenticated, "join: invalid bootstrap token")

// Join trades a bootstrap token for node credentials.
func (s *Server) Join(ctx context.Context, req *apipb.JoinRequest) (*apipb.JoinResponse, error) {
	s.join.mu.Lock()
	ca, log := s.join.ca, s.join.log
	s.join.mu.Unlock()
	if log == nil {
		log = slog.Default()
	}
	if ca == nil || ca.Key == nil {
		log.Warn("join refused: the server has no CA key to issue node certificates", "node", req.NodeName)
		return nil, errInvalidToken
	}
	if err := s.checkBootstrapToken(ctx, req.Token); err != nil {
		log.Warn("join refused", "node", req.NodeName, "reason", err)
		return nil, errInvalidToken
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

// checkBootstrapToken checks token against its Secret, read (and
// decrypted) through the object store, as Kubernetes' bootstrap token
// authenticator does: the secret part in constant time, then expiry and
// usage. The error is for the server's log: it names the token id, never
// the secret part.
func (s *Server) checkBootstrapToken(ctx context.Context, token string) error {
	id, secret, err := registry.ParseBootstrapToken(token)
	if err != nil {
		return err
	}
	name := registry.BootstrapTokenSecretName(id)
	_, obj, err := s.objects.get(ctx, api.Secrets.Name, registry.BootstrapTokenNamespace, name)
	if err != nil {
		return fmt.Errorf("bootstrap token %q: %w", id, err)
	}
	sec, ok := obj.(*corev1.Secret)
	if !ok || sec.Type != corev1.SecretTypeBootstrapToken {
		return fmt.Errorf("bootstrap token %q: secret %q in %q is not of type %s", id, name, registry.BootstrapTokenNamespace, corev1.SecretTypeBootstrapToken)
	}
	if subtle.ConstantTimeCompare([]byte(secret), sec.Data[registry.BootstrapTokenSecretKey]) != 1 {
		return fmt.Errorf("bootstrap token %q: the secret part does not match", id)
	}
	if string(sec.Data[registry.BootstrapTokenIDKey]) != id {
		return fmt.Errorf("bootstrap token %q: secret %q holds token id %q", id, name, sec.Data[registry.BootstrapTokenIDKey])
	}
	if registry.BootstrapTokenExpired(sec, s.objects.now()) {
		return fmt.Errorf("bootstrap token %q: expired (%s %q)", id, registry.BootstrapTokenExpirationKey, sec.Data[registry.BootstrapTokenExpirationKey])
	}
	if string(sec.Data[registry.BootstrapTokenUsageAuthentication]) != "true" {
		return fmt.Errorf("bootstrap token %q: %s is not \"true\"", id, registry.BootstrapTokenUsageAuthentication)
	}
	return nil
}

// ReadJoinToken reads the token file at path (an error wrapping
// os.ErrNotExist when there is none).
func ReadJoinToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("join token %s: %w", path, err)
	}
	token := strings.TrimSpace(string(data))
	if _, _, err := registry.ParseBootstrapToken(token); err != nil {
		return "", fmt.Errorf("join token %s: %w", path, err)
	}
	return token, nil
}

// WriteJoinToken writes token to path, mode 0600. The file appears whole
// (written aside, then renamed): `skiffctl cluster create` reads it as
// soon as it exists.
func WriteJoinToken(path, token string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("join token %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fmt.Errorf("join token %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("join token %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("join token %s: %w", path, err)
	}
	ok = true
	return nil
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
