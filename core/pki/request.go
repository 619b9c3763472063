package pki

// Certificate signing requests: what an agent sends to renew its client
// certificate (NewClientRequest) and what the server's CSR signer makes of
// it (SignRequest), with the same signing code as IssueClient.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// DefaultClientValidity is the lifetime of client certificates when
// CA.ClientValidity is not set.
const DefaultClientValidity = leafValidity

// maxBackdate bounds how far NotBefore is set in the past for clock skew.
const maxBackdate = time.Hour

// setValidity makes tmpl valid from now for ttl, never past caNotAfter.
// NotBefore is backdated for clock skew by a tenth of ttl, at most
// maxBackdate: an agent renews at a share of NotAfter-NotBefore, which
// must stay mostly ahead of it for a short-lived certificate too.
func setValidity(tmpl *x509.Certificate, now time.Time, ttl time.Duration, caNotAfter time.Time) {
	tmpl.NotBefore = now.Add(-min(ttl/10, maxBackdate))
	tmpl.NotAfter = now.Add(ttl)
	if !caNotAfter.IsZero() && tmpl.NotAfter.After(caNotAfter) {
		tmpl.NotAfter = caNotAfter
	}
}

// MaxClientValidity is the longest lifetime SignRequest gives:
// ClientValidity, or DefaultClientValidity when it is not set.
func (ca *CA) MaxClientValidity() time.Duration {
	if ca.ClientValidity > 0 {
		return ca.ClientValidity
	}
	return DefaultClientValidity
}

// SignRequest issues a certificate for a parsed certificate request whose
// signature the caller has checked: the request's subject, SANs and public
// key, with the given key usages, valid for ttl from now (0, or more than
// MaxClientValidity: MaxClientValidity) and never past the CA's own
// expiry. It returns the PEM certificate.
func (ca *CA) SignRequest(req *x509.CertificateRequest, ttl time.Duration, usage x509.KeyUsage, extUsage []x509.ExtKeyUsage, now time.Time) ([]byte, error) {
	if ca.Key == nil {
		return nil, errors.New("the CA's key is not available to sign with")
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("the CA expired at %s", ca.Cert.NotAfter.Format(time.RFC3339))
	}
	if limit := ca.MaxClientValidity(); ttl <= 0 || ttl > limit {
		ttl = limit
	}
	tmpl := leafTemplate(req.Subject)
	tmpl.KeyUsage = usage
	tmpl.ExtKeyUsage = extUsage
	tmpl.DNSNames, tmpl.IPAddresses, tmpl.EmailAddresses, tmpl.URIs = req.DNSNames, req.IPAddresses, req.EmailAddresses, req.URIs
	setValidity(tmpl, now, ttl, ca.Cert.NotAfter)
	return ca.signPublicKey(tmpl, req.PublicKey)
}

// NewClientRequest makes a key and a PEM certificate request for user in
// groups (CommonName and Organization, as IssueClient names them).
func NewClientRequest(user string, groups []string) (csrPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %q: %w", user, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: user, Organization: groups},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request for %q: %w", user, err)
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), keyPEM, nil
}

// ParseRequest parses a PEM certificate request and checks its signature.
func ParseRequest(data []byte) (*x509.CertificateRequest, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block found")
	case block.Type != "CERTIFICATE REQUEST":
		return nil, fmt.Errorf("PEM block type must be CERTIFICATE REQUEST, not %q", block.Type)
	case len(rest) > 0 && len(pemRest(rest)) > 0:
		return nil, errors.New("more than one PEM block")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := req.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	return req, nil
}

// pemRest is what follows the first PEM block, without blank space.
func pemRest(rest []byte) []byte {
	for len(rest) > 0 && (rest[0] == '\n' || rest[0] == '\r' || rest[0] == ' ' || rest[0] == '\t') {
		rest = rest[1:]
	}
	return rest
}
