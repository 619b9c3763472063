package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// renewBefore is how long before its expiry EnsureServerFiles replaces a
// certificate it would otherwise keep.
const renewBefore = 30 * 24 * time.Hour

// EnsureServerFiles keeps a serving certificate (IssueServer's: server and
// client auth) in certPath and keyPath (0600): the one there when it is
// this CA's, has this common name and exactly these DNS names and IPs, and
// is valid for more than 30 days; otherwise a new one, written over it.
// It reports whether it issued one. Servers that read the files at each
// handshake, as etcd does for its peers, see either pair whole: each file
// is replaced by a rename.
func (ca *CA) EnsureServerFiles(certPath, keyPath, cn string, dnsNames []string, ips []net.IP) (issued bool, err error) {
	if ca.serverFilesValid(certPath, keyPath, cn, dnsNames, ips, time.Now()) {
		return false, nil
	}
	kp, err := ca.IssueServer(cn, dnsNames, ips)
	if err != nil {
		return false, err
	}
	if err := writeFileAtomic(keyPath, kp.KeyPEM, 0o600); err != nil {
		return false, fmt.Errorf("write key of %q: %w", cn, err)
	}
	if err := writeFileAtomic(certPath, kp.CertPEM, 0o644); err != nil {
		return false, fmt.Errorf("write certificate of %q: %w", cn, err)
	}
	return true, nil
}

func (ca *CA) serverFilesValid(certPath, keyPath, cn string, dnsNames []string, ips []net.IP, now time.Time) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return false
	}
	if cert.Subject.CommonName != cn || cert.NotAfter.Sub(now) < renewBefore {
		return false
	}
	return sameSet(cert.DNSNames, dnsNames, func(a, b string) bool { return a == b }) &&
		sameSet(cert.IPAddresses, ips, func(a, b net.IP) bool { return a.Equal(b) })
}

// sameSet reports whether a and b hold the same elements, ignoring order
// and repeats.
func sameSet[T any](a, b []T, eq func(T, T) bool) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y T) bool { return eq(x, y) }) {
			return false
		}
	}
	for _, y := range b {
		if !slices.ContainsFunc(a, func(x T) bool { return eq(x, y) }) {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, there is nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadCertPool reads a PEM file of CA certificates into a pool.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}
