package agent

// Client certificate rotation, as the kubelet's certificate manager does
// it (--rotate-certificates):
//
// The agent's API client presents whatever ClientCertificate holds now
// (tls.Config.GetClientCertificate), over connections it tracks. A
// CertRotator waits until a random point between 70% and 90% of the
// current certificate's lifetime (NotAfter-NotBefore, read from the
// certificate itself; at once when that point has passed), then makes a
// new key and a CertificateSigningRequest for it (signer
// kubernetes.io/kube-apiserver-client-kubelet, CN system:node:<name>,
// O system:nodes), authenticated by the current certificate. The server's
// CSR controller approves a node's request for itself and signs it
// (core/controllers/csr.go); the rotator polls the request (nodes may get
// their own requests, not watch them) until the certificate is issued,
// saves the new pair (Save: the node-credentials directory, written aside,
// synced and renamed into place), switches ClientCertificate to it, and
// closes the open connections so that every new one presents it, as the
// kubelet's connection-rotating dialer does. A failure is retried with
// back-off; a request that is denied or fails is replaced by a new one.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/sdk/base"
)

// RotationDeadline is when a certificate valid from notBefore to notAfter
// is renewed: at 70% of its lifetime plus up to 20% more, by jitter in
// [0, 1) (the kubelet's jitteryDuration).
func RotationDeadline(notBefore, notAfter time.Time, jitter float64) time.Time {
	total := float64(notAfter.Sub(notBefore))
	return notBefore.Add(time.Duration(total * (0.7 + 0.2*jitter)))
}

// ClientCertificate is the agent's current client certificate, which its
// API connections present, and those connections, closed when it changes.
type ClientCertificate struct {
	mu    sync.Mutex
	pair  pki.KeyPair
	cert  *tls.Certificate
	conns map[*trackedConn]struct{}
}

// NewClientCertificate starts with pair.
func NewClientCertificate(pair pki.KeyPair) (*ClientCertificate, error) {
	c := &ClientCertificate{conns: map[*trackedConn]struct{}{}}
	if err := c.set(pair); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ClientCertificate) set(pair pki.KeyPair) error {
	cert, err := pair.TLSCertificate()
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
	}
	c.mu.Lock()
	c.pair, c.cert = pair, &cert
	c.mu.Unlock()
	return nil
}

// Rotate switches to pair and closes the open connections: the next ones
// present pair.
func (c *ClientCertificate) Rotate(pair pki.KeyPair) error {
	if err := c.set(pair); err != nil {
		return err
	}
	c.mu.Lock()
	conns := c.conns
	c.conns = map[*trackedConn]struct{}{}
	c.mu.Unlock()
	for tc := range conns {
		_ = tc.Conn.Close()
	}
	return nil
}

// Current is the pair in use and its certificate.
func (c *ClientCertificate) Current() (pki.KeyPair, *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pair, c.cert.Leaf
}

// GetClientCertificate is for tls.Config.
func (c *ClientCertificate) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

// dial opens a tracked TCP connection.
func (c *ClientCertificate) dial(ctx context.Context, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, owner: c}
	c.mu.Lock()
	c.conns[tc] = struct{}{}
	c.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	owner *ClientCertificate
	once  sync.Once
}

func (tc *trackedConn) Close() error {
	tc.once.Do(func() {
		tc.owner.mu.Lock()
		delete(tc.owner.conns, tc)
		tc.owner.mu.Unlock()
	})
	return tc.Conn.Close()
}

// NewRotatingClient connects to the API server at addr, trusting caPEM and
// presenting cert's current certificate on every connection.
func NewRotatingClient(addr string, caPEM []byte, cert *ClientCertificate) (*client.Client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster CA: no certificate in its PEM")
	}
	tlsCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, GetClientCertificate: cert.GetClientCertificate}
	conn, err := grpc.NewClient(addr, append(base.WindowDialOptions(),
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithContextDialer(cert.dial),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return client.NewFromConn(conn, ""), nil
}

// Rotation timing defaults.
const (
	defaultCSRPoll       = time.Second
	defaultCSRWait       = 15 * time.Minute // the kubelet's certificateWaitTimeout
	rotationBackoffStart = time.Second
	rotationBackoffMax   = time.Minute
)

// CertRotator renews the node's client certificate before it expires.
type CertRotator struct {
	NodeName string
	// Client is the API client that presents Cert.
	Client *client.Client
	Cert   *ClientCertificate
	// Save keeps a new pair before it is used (nil: memory only).
	Save func(pki.KeyPair) error
	Log  *slog.Logger
	// Jitter returns a number in [0, 1) (default math/rand).
	Jitter func() float64
	// Poll is how often a pending request is read (default 1s); Wait how
	// long it may stay pending before a new one is made (default 15m).
	Poll, Wait time.Duration
}

// Run renews the certificate each time its rotation deadline comes, until
// ctx ends.
func (r *CertRotator) Run(ctx context.Context) {
	backoff := rotationBackoffStart
	for {
		_, leaf := r.Cert.Current()
		deadline := RotationDeadline(leaf.NotBefore, leaf.NotAfter, r.jitter())
		r.log().Info("client certificate rotation scheduled", "expiration", leaf.NotAfter.Format(time.RFC3339), "rotation", deadline.Format(time.RFC3339))
		if !sleepUntil(ctx, deadline) {
			return
		}
		for {
			err := r.RotateOnce(ctx)
			if err == nil {
				backoff = rotationBackoffStart
				break
			}
			if ctx.Err() != nil {
				return
			}
			r.log().Warn("client certificate rotation failed; retrying", "in", backoff, "error", err)
			if !sleepUntil(ctx, time.Now().Add(backoff)) {
				return
			}
			backoff = min(2*backoff, rotationBackoffMax)
		}
	}
}

func (r *CertRotator) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

func (r *CertRotator) jitter() float64 {
	if r.Jitter != nil {
		return r.Jitter()
	}
	return rand.Float64()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// RotateOnce requests a new certificate, waits for it, saves it and
// switches to it.
func (r *CertRotator) RotateOnce(ctx context.Context) error {
	user := "system:node:" + r.NodeName
	csrPEM, keyPEM, err := pki.NewClientRequest(user, []string{pki.GroupNodes})
	if err != nil {
		return err
	}
	csr := &certificatesv1.CertificateSigningRequest{
		TypeMeta: metav1.TypeMeta{APIVersion: api.CertificateSigningRequests.APIVersion(), Kind: api.CertificateSigningRequests.Kind},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM,
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
	for attempt := 0; ; attempt++ {
		csr.Name = "csr-" + utilrand.String(5) // the kubelet's generateName
		err = r.Client.Create(ctx, api.CertificateSigningRequests, "", csr)
		if !apierrors.IsAlreadyExists(err) || attempt == 3 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("create certificatesigningrequest: %w", err)
	}
	r.log().Info("requested a new client certificate", "csr", csr.Name)
	certPEM, err := r.waitIssued(ctx, csr.Name)
	if err != nil {
		return err
	}
	pair := pki.KeyPair{CertPEM: certPEM, KeyPEM: keyPEM}
	if err := checkIssued(pair, user); err != nil {
		return fmt.Errorf("certificatesigningrequest %q: %w", csr.Name, err)
	}
	if r.Save != nil {
		if err := r.Save(pair); err != nil {
			return err
		}
	}
	if err := r.Cert.Rotate(pair); err != nil {
		return err
	}
	_, leaf := r.Cert.Current()
	r.log().Info("rotated the client certificate", "csr", csr.Name, "expiration", leaf.NotAfter.Format(time.RFC3339))
	return nil
}

// waitIssued polls the request until its certificate is issued, it is
// denied or failed, or it has waited too long.
func (r *CertRotator) waitIssued(ctx context.Context, name string) ([]byte, error) {
	poll, wait := r.Poll, r.Wait
	if poll <= 0 {
		poll = defaultCSRPoll
	}
	if wait <= 0 {
		wait = defaultCSRWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		var csr certificatesv1.CertificateSigningRequest
		err := r.Client.Get(ctx, api.CertificateSigningRequests, "", name, &csr)
		switch {
		case err == nil && len(csr.Status.Certificate) > 0:
			return csr.Status.Certificate, nil
		case err == nil:
			for _, c := range csr.Status.Conditions {
				if c.Type == certificatesv1.CertificateDenied || c.Type == certificatesv1.CertificateFailed {
					return nil, fmt.Errorf("certificatesigningrequest %q: %s: %s: %s", name, c.Type, c.Reason, c.Message)
				}
			}
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("certificatesigningrequest %q: deleted before it was issued", name)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("certificatesigningrequest %q: not issued within %v", name, wait)
		default:
			r.log().Warn("get certificatesigningrequest", "csr", name, "error", err)
		}
		if !sleepUntil(ctx, time.Now().Add(poll)) {
			return nil, fmt.Errorf("certificatesigningrequest %q: not issued within %v", name, wait)
		}
	}
}

// checkIssued checks that the issued certificate goes with the new key,
// names the node and is a client certificate valid now.
func checkIssued(pair pki.KeyPair, user string) error {
	cert, err := pair.TLSCertificate()
	if err != nil {
		return fmt.Errorf("issued certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("issued certificate: %w", err)
	}
	now := time.Now()
	switch {
	case leaf.Subject.CommonName != user:
		return fmt.Errorf("issued certificate is for %q, not %q", leaf.Subject.CommonName, user)
	case !now.Before(leaf.NotAfter):
		return fmt.Errorf("issued certificate expired at %s", leaf.NotAfter.Format(time.RFC3339))
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return errors.New("issued certificate is not for client authentication")
	}
	return nil
}
