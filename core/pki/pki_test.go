package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestCAIsMadeOnceAndReloaded(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode = %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Error("second load made a new CA instead of reading the first")
	}
}

func TestIssuedCertificatesVerifyAgainstCA(t *testing.T) {
	ca, err := LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.IssueServer("skiff-server", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := srv.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(tc.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
		t.Errorf("server cert does not verify: %v", err)
	}
	cli, err := ca.IssueClient("alice", []string{GroupAdmins})
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := cli.TLSCertificate()
	cleaf, _ := x509.ParseCertificate(cc.Certificate[0])
	if _, err := cleaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not verify: %v", err)
	}
	id := IdentityOf(cleaf)
	if id.User != "alice" || !id.InGroup(GroupAdmins) || id.InGroup(GroupNodes) {
		t.Errorf("identity = %+v", id)
	}
	other, _ := LoadOrCreateCA(t.TempDir())
	if _, err := cleaf.Verify(x509.VerifyOptions{Roots: other.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("cert verified against a foreign CA")
	}
}
