package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// EnsureServerFiles keeps a certificate that fits and replaces one that
// does not: other IPs, names, common name or CA.
func TestEnsureServerFiles(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key")
	ip1, ip2 := []net.IP{net.ParseIP("10.0.0.1")}, []net.IP{net.ParseIP("10.0.0.2")}
	ensure := func(ca *CA, cn string, dns []string, ips []net.IP, wantIssued bool) []byte {
		t.Helper()
		issued, err := ca.EnsureServerFiles(certPath, keyPath, cn, dns, ips)
		if err != nil {
			t.Fatal(err)
		}
		if issued != wantIssued {
			t.Fatalf("EnsureServerFiles(%s, %v, %v): issued = %v, want %v", cn, dns, ips, issued, wantIssued)
		}
		data, err := os.ReadFile(certPath)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	first := ensure(ca, "peer", nil, ip1, true)
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v, want 0600", err, st.Mode().Perm())
	}
	block, _ := pem.Decode(first)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(ip1[0]) || cert.Subject.CommonName != "peer" {
		t.Errorf("certificate for %v, CN %q", cert.IPAddresses, cert.Subject.CommonName)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("not a client certificate too: %v", err)
	}
	if again := ensure(ca, "peer", nil, ip1, false); !bytes.Equal(again, first) {
		t.Error("a fitting certificate was replaced")
	}
	ensure(ca, "peer", nil, ip2, true)
	ensure(ca, "peer", []string{"node-a"}, ip2, true)
	ensure(ca, "other", []string{"node-a"}, ip2, true)
	other, err := LoadOrCreateCA(filepath.Join(dir, "ca2"))
	if err != nil {
		t.Fatal(err)
	}
	ensure(other, "other", []string{"node-a"}, ip2, true)
	ensure(other, "other", []string{"node-a"}, ip2, false)
	// A key that does not match the certificate.
	if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	ensure(other, "other", []string{"node-a"}, ip2, true)
	matches, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(matches) > 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}
