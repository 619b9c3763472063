package pki

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestSignRequest(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	csrPEM, keyPEM, err := NewClientRequest("system:node:w", []string{GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseRequest(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sign := func(ca *CA, ttl time.Duration) *x509.Certificate {
		t.Helper()
		certPEM, err := ca.SignRequest(req, ttl, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (KeyPair{CertPEM: certPEM, KeyPEM: keyPEM}).TLSCertificate(); err != nil {
			t.Fatalf("the certificate does not go with the request's key: %v", err)
		}
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatal(err)
		}
		return cert
	}
	for _, tc := range []struct {
		policy, ttl, want time.Duration
	}{
		{0, 0, DefaultClientValidity},
		{time.Hour, 0, time.Hour},
		{time.Hour, 10 * time.Minute, 10 * time.Minute},
		{time.Hour, 2 * time.Hour, time.Hour},
		{20 * time.Second, 0, 20 * time.Second},
	} {
		c := *ca
		c.ClientValidity = tc.policy
		cert := sign(&c, tc.ttl)
		if got := cert.NotAfter.Sub(now); got < tc.want-time.Second || got > tc.want+time.Second {
			t.Errorf("policy %v, asked %v: valid %v, want %v", tc.policy, tc.ttl, got, tc.want)
		}
		// Backdated for skew, by a tenth of the lifetime at most an hour,
		// so the renewal point (70-90% of the lifetime) stays ahead.
		if back := now.Sub(cert.NotBefore); back > time.Hour+time.Second || back > tc.want/10+time.Second {
			t.Errorf("policy %v: backdated %v", tc.policy, back)
		}
		if cert.Subject.CommonName != "system:node:w" || cert.Subject.Organization[0] != GroupNodes || cert.IsCA {
			t.Errorf("subject %v CA %v", cert.Subject, cert.IsCA)
		}
	}
	// Never beyond the CA's own expiry.
	c := *ca
	if cert := sign(&c, 0); cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("outlives the CA")
	}
	if _, err := (&CA{Cert: ca.Cert}).SignRequest(req, 0, 0, nil, now); err == nil {
		t.Error("signed without a key")
	}
	if _, err := ca.SignRequest(req, 0, 0, nil, ca.Cert.NotAfter.Add(time.Second)); err == nil || !strings.Contains(err.Error(), "the CA expired") {
		t.Errorf("signed with an expired CA: %v", err)
	}

	// IssueClient honours ClientValidity; the zero value keeps a year.
	c.ClientValidity = time.Minute
	kp, err := c.IssueClient("system:node:w", []string{GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(kp.CertPEM)
	short, _ := x509.ParseCertificate(block.Bytes)
	if life := short.NotAfter.Sub(short.NotBefore); life > 2*time.Minute {
		t.Errorf("IssueClient with ClientValidity 1m: valid %v", life)
	}
}

func TestParseRequest(t *testing.T) {
	for what, data := range map[string]string{
		"empty":       "",
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})),
		"garbage":     string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}})),
	} {
		if _, err := ParseRequest([]byte(data)); err == nil {
			t.Errorf("%s: parsed", what)
		}
	}
	a, _, _ := NewClientRequest("a", nil)
	b, _, _ := NewClientRequest("b", nil)
	if _, err := ParseRequest(append(a, b...)); err == nil || !strings.Contains(err.Error(), "more than one PEM block") {
		t.Errorf("two requests: %v", err)
	}
	if _, err := ParseRequest(append(a, '\n')); err != nil {
		t.Errorf("trailing newline: %v", err)
	}
}
