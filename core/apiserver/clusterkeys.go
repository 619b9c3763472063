package apiserver

import (
	"fmt"
	"path/filepath"

	"github.com/skiffhq/skiff/core/pki"
)

// ClusterKeyFiles are the files under a server's PKI dir that every
// server of one cluster must share before its first start: the cluster CA
// (certificate and key) and the keys Secrets are encrypted with at rest.
// Everything else there (serving, peer and client certificates) is each
// server's own and made from the CA at start.
var ClusterKeyFiles = []string{"ca.crt", "ca.key", EncryptionKeysFile}

// LoadOrCreateClusterKeys reads the cluster CA and the Secrets encryption
// keys in pkiDir, making those that do not exist yet, as a server's first
// start does. Neither needs etcd, so the first of several servers has them
// before it waits for its peers, and `skiffd pki init` can make them
// before any server starts.
func LoadOrCreateClusterKeys(pkiDir string) (*pki.CA, []EncryptionKey, error) {
	ca, err := pki.LoadOrCreateCA(pkiDir)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster CA in %s: %w", pkiDir, err)
	}
	keys, err := LoadOrCreateEncryptionKeys(filepath.Join(pkiDir, EncryptionKeysFile))
	if err != nil {
		return nil, nil, fmt.Errorf("secrets encryption keys in %s: %w", pkiDir, err)
	}
	return ca, keys, nil
}
