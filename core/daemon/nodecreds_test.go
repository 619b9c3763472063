package daemon

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/pki"
)

func TestNodeCredentialsSurviveARestart(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{NodeName: "worker-1", NodeIP: "10.0.0.2"}
	creds, err := issueNodeCredentials(o, ca)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), nodeCredentialsDir)
	if _, err := loadNodeCredentials(dir, "worker-1", "", time.Now()); !errors.Is(err, errNoNodeCredentials) {
		t.Fatalf("nothing saved: %v, want errNoNodeCredentials", err)
	}
	if err := saveNodeCredentials(dir, creds); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{credCA, credClientCert, credClientKey, credServeCert, credServeKey} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", name, err, fi.Mode())
		}
	}
	got, err := loadNodeCredentials(dir, "worker-1", apiserver.CACertHash(ca.Cert), time.Now())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if string(got.client.CertPEM) != string(creds.client.CertPEM) || string(got.serving.KeyPEM) != string(creds.serving.KeyPEM) || !got.ca.Cert.Equal(ca.Cert) {
		t.Errorf("loaded credentials differ from the saved ones")
	}
	if got.ca.Key != nil {
		t.Errorf("the CA key came back from an agent's saved credentials")
	}

	// Not for this node, another cluster, or expired: join again.
	for what, load := range map[string]func() error{
		"other node": func() error { _, err := loadNodeCredentials(dir, "worker-2", "", time.Now()); return err },
		"other CA": func() error {
			_, err := loadNodeCredentials(dir, "worker-1", "sha256:0000000000000000000000000000000000000000000000000000000000000000", time.Now())
			return err
		},
		"expired": func() error {
			_, err := loadNodeCredentials(dir, "worker-1", "", time.Now().AddDate(20, 0, 0))
			return err
		},
	} {
		if err := load(); !errors.Is(err, errNoNodeCredentials) {
			t.Errorf("%s: %v, want errNoNodeCredentials", what, err)
		}
	}

	// Saving again replaces every file.
	other, err := ca.IssueServer("worker-1", nil, []net.IP{net.ParseIP("10.0.0.3")})
	if err != nil {
		t.Fatal(err)
	}
	creds.serving = other
	if err := saveNodeCredentials(dir, creds); err != nil {
		t.Fatal(err)
	}
	if got, err := loadNodeCredentials(dir, "worker-1", "", time.Now()); err != nil || string(got.serving.CertPEM) != string(other.CertPEM) {
		t.Errorf("after a second save: %v", err)
	}
	if _, err := os.Stat(dir + ".new"); !os.IsNotExist(err) {
		t.Errorf("temporary dir left: %v", err)
	}
}

// A save cut between its renames leaves the old set, which a load puts
// back; a corrupt set is not usable (the agent joins again).
func TestNodeCredentialsInterruptedSaveAndCorruption(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := issueNodeCredentials(&Options{NodeName: "w", NodeIP: "10.0.0.2"}, ca)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), nodeCredentialsDir)
	if err := saveNodeCredentials(dir, creds); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".old"); err != nil { // as if cut after the first rename
		t.Fatal(err)
	}
	if _, err := loadNodeCredentials(dir, "w", "", time.Now()); err != nil {
		t.Errorf("load after an interrupted save: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, credClientKey), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadNodeCredentials(dir, "w", "", time.Now())
	if !errors.Is(err, errNoNodeCredentials) || errors.Is(err, errNothingSaved) {
		t.Errorf("corrupt key: %v, want unusable credentials", err)
	}
}

// A rotated client certificate replaces the saved one, with the rest of
// the set, where the credentials came from; made at each start (dev), it
// is kept in memory only. The server signs node certificates for
// --node-cert-ttl.
func TestRotatedClientCertificateIsSaved(t *testing.T) {
	ca, err := pki.LoadOrCreateCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{NodeName: "w", NodeIP: "10.0.0.2", NodeCertTTL: time.Minute}
	signing := nodeSigningCA(ca, o)
	creds, err := issueNodeCredentials(o, signing)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, _ := parseCert(creds.client.CertPEM); leaf.NotAfter.Sub(leaf.NotBefore) > 2*time.Minute {
		t.Errorf("node certificate valid %v with --node-cert-ttl 1m", leaf.NotAfter.Sub(leaf.NotBefore))
	}
	if ca.ClientValidity != 0 {
		t.Error("nodeSigningCA changed the CA itself (admin certificates would be short too)")
	}
	next, err := ca.IssueClient("system:node:w", []string{pki.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.saveRotatedClient(next); err != nil || string(creds.client.CertPEM) != string(next.CertPEM) {
		t.Fatalf("in memory: %v", err)
	}

	dir := filepath.Join(t.TempDir(), nodeCredentialsDir)
	if err := saveNodeCredentials(dir, creds); err != nil {
		t.Fatal(err)
	}
	loaded, err := loadNodeCredentials(dir, "w", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	third, err := ca.IssueClient("system:node:w", []string{pki.GroupNodes})
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.saveRotatedClient(third); err != nil {
		t.Fatal(err)
	}
	again, err := loadNodeCredentials(dir, "w", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if string(again.client.CertPEM) != string(third.CertPEM) || string(again.client.KeyPEM) != string(third.KeyPEM) ||
		string(again.serving.CertPEM) != string(creds.serving.CertPEM) {
		t.Error("the saved set is not the rotated client certificate with the same serving certificate")
	}
}
