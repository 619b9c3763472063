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

// nodeSigningCA is ca as the server signs node client certificates with
// it, at join (apiserver) and for renewals (controllers.CSRSigning):
// valid o.NodeCertTTL (0: pki's default of a year).
func nodeSigningCA(ca *pki.CA, o *Options) *pki.CA {
	c := *ca
	c.ClientValidity = o.NodeCertTTL
	return &c
}

// saveNodeCredentials writes creds into dir (mode 0600 files in a 0700
// dir): into dir.new first, synced, then swapped in by renames, so that a
// crash leaves the old set or the new one (restoreInterruptedSave).
func saveNodeCredentials(dir string, creds *nodeCredentials) error {
	tmp, old := dir+".new", dir+".old"
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
		if err := writeSynced(filepath.Join(tmp, name), data); err != nil {
			return fmt.Errorf("node credentials %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("node credentials %s: %w", dir, err)
	}
	creds.dir = dir
	return os.RemoveAll(old)
}

// saveRotatedClient takes a renewed client certificate (agent.CertRotator)
// into creds and, when they are kept in a directory (joined or loaded from
// one; made at each start otherwise), saves the whole set there again.
func (creds *nodeCredentials) saveRotatedClient(pair pki.KeyPair) error {
	next := *creds
	next.client = pair
	if creds.dir != "" {
		if err := saveNodeCredentials(creds.dir, &next); err != nil {
			return err
		}
	}
	*creds = next
	return nil
}

// restoreInterruptedSave puts back the previous set when a save stopped
// between its two renames.
func restoreInterruptedSave(dir string) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		_ = os.Rename(dir+".old", dir)
	}
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errNoNodeCredentials: nothing saved, or nothing usable for this node and
// cluster (the agent joins again); errNothingSaved wraps it for the first.
var (
	errNoNodeCredentials = errors.New("no usable saved node credentials")
	errNothingSaved      = fmt.Errorf("%w: none saved", errNoNodeCredentials)
)

// loadNodeCredentials reads what saveNodeCredentials wrote and checks it is
// still good for node: the client certificate names the node, is signed by
// the saved CA and has not expired, and the CA matches caCertHash when one
// is given (the agent was pointed at another cluster otherwise).
func loadNodeCredentials(dir, node, caCertHash string, now time.Time) (*nodeCredentials, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	restoreInterruptedSave(dir)
	caPEM, err := read(credCA)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNothingSaved
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errNoNodeCredentials, dir, err)
	}
	creds := &nodeCredentials{ca: &pki.CA{CertPEM: caPEM}}
	for name, dst := range map[string]*[]byte{
		credClientCert: &creds.client.CertPEM, credClientKey: &creds.client.KeyPEM,
		credServeCert: &creds.serving.CertPEM, credServeKey: &creds.serving.KeyPEM,
	} {
		if *dst, err = read(name); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errNoNodeCredentials, dir, err)
		}
	}
	if creds.ca.Cert, err = parseCert(caPEM); err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", errNoNodeCredentials, dir, credCA, err)
	}
	if caCertHash != "" && apiserver.CACertHash(creds.ca.Cert) != caCertHash {
		return nil, fmt.Errorf("%w: %s holds another cluster's CA (%s, want %s)", errNoNodeCredentials, dir, apiserver.CACertHash(creds.ca.Cert), caCertHash)
	}
	cert, err := parseCert(creds.client.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s: %v", errNoNodeCredentials, dir, credClientCert, err)
	}
	if want := "system:node:" + node; cert.Subject.CommonName != want {
		return nil, fmt.Errorf("%w: %s is for %q, not %q", errNoNodeCredentials, dir, cert.Subject.CommonName, want)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: creds.ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errNoNodeCredentials, dir, err)
	}
	if _, err := creds.client.TLSCertificate(); err != nil {
		return nil, fmt.Errorf("%w: %s: client key pair: %v", errNoNodeCredentials, dir, err)
	}
	if _, err := creds.serving.TLSCertificate(); err != nil {
		return nil, fmt.Errorf("%w: %s: serving key pair: %v", errNoNodeCredentials, dir, err)
	}
	creds.dir = dir
	return creds, nil
}

func parseCert(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
