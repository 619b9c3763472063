package daemon

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/pki"
)

// nodeCredentialsDir, in an agent's data dir, keeps what Join gave it, as
// the kubelet keeps its certificates after TLS bootstrap: a restarted agent
// uses them instead of joining again, so a bootstrap token is needed once
// and may expire afterwards.
const nodeCredentialsDir = "node-credentials"

// The files of nodeCredentialsDir.
const (
	credCA         = "ca.crt"
	credClientCert = "client.crt"
	credClientKey  = "client.key"
	credServeCert  = "serving.crt"
	credServeKey   = "serving.key"
)

// saveNodeCredentials writes creds into dir (mode 0600 files in a 0700
// dir), replacing what was there only once every file is written.
func saveNodeCredentials(dir string, creds *nodeCredentials) error {
	tmp := dir + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	for name, data := range map[string][]byte{
		credCA: creds.ca.CertPEM, credClientCert: creds.client.CertPEM, credClientKey: creds.client.KeyPEM,
		credServeCert: creds.serving.CertPEM, credServeKey: creds.serving.KeyPEM,
	} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			return fmt.Errorf("node credentials %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	return nil
}

// errNoNodeCredentials: nothing saved, or nothing usable for this node and
// cluster (the agent joins again).
var errNoNodeCredentials = errors.New("no usable saved node credentials")

// loadNodeCredentials reads what saveNodeCredentials wrote and checks it is
// still good for node: the client certificate names the node, is signed by
// the saved CA and has not expired, and the CA matches caCertHash when one
// is given (the agent was pointed at another cluster otherwise).
func loadNodeCredentials(dir, node, caCertHash string, now time.Time) (*nodeCredentials, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	caPEM, err := read(credCA)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoNodeCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("node credentials %s: %w", dir, err)
	}
	creds := &nodeCredentials{ca: &pki.CA{CertPEM: caPEM}}
	for name, dst := range map[string]*[]byte{
		credClientCert: &creds.client.CertPEM, credClientKey: &creds.client.KeyPEM,
		credServeCert: &creds.serving.CertPEM, credServeKey: &creds.serving.KeyPEM,
	} {
		if *dst, err = read(name); err != nil {
			return nil, fmt.Errorf("node credentials %s: %w", dir, err)
		}
	}
	if creds.ca.Cert, err = parseCert(caPEM); err != nil {
		return nil, fmt.Errorf("node credentials %s: %s: %w", dir, credCA, err)
	}
	if caCertHash != "" && apiserver.CACertHash(creds.ca.Cert) != caCertHash {
		return nil, fmt.Errorf("%w: %s holds another cluster's CA (%s, want %s)", errNoNodeCredentials, dir, apiserver.CACertHash(creds.ca.Cert), caCertHash)
	}
	cert, err := parseCert(creds.client.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("node credentials %s: %s: %w", dir, credClientCert, err)
	}
	if want := "system:node:" + node; cert.Subject.CommonName != want {
		return nil, fmt.Errorf("%w: %s is for %q, not %q", errNoNodeCredentials, dir, cert.Subject.CommonName, want)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: creds.ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errNoNodeCredentials, dir, err)
	}
	if _, err := creds.client.TLSCertificate(); err != nil {
		return nil, fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if _, err := creds.serving.TLSCertificate(); err != nil {
		return nil, fmt.Errorf("node credentials %s: %w", dir, err)
	}
	return creds, nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
