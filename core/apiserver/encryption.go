package apiserver

// Encryption at rest.
//
// Secrets are encrypted before they reach etcd, the way Kubernetes'
// EncryptionConfiguration does it with its aesgcm provider: a value
// transformer sits between the object's JSON and the store, for the
// secrets resource only. A stored value is
//
//	k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><AES-256-GCM ciphertext and tag>
//
// with the etcd key as the additional authenticated data, so a ciphertext
// copied under another key does not decrypt. The key name in the prefix
// picks the key on reads, so every key in the key file can decrypt while
// only the first one encrypts: that is what makes rotation safe.
//
// The keys live in <data-dir>/pki/encryption-keys.json (mode 0600), made at
// the server's first start. `skiffd rotate-encryption-key`, run while the
// server is stopped, adds a new first key, re-encrypts every secret with it
// and then drops the old keys (RotateEncryptionKey). A value whose key is
// not in the file, or that does not authenticate, is an error that says
// so; it is never returned as data.
//
// Values without the "k8s:enc:" prefix are read as plain JSON (written by a
// server that ran without keys); rotation encrypts them.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/store"
)

// EncryptionKeysFile is the key file's name in the server's PKI directory.
const EncryptionKeysFile = "encryption-keys.json"

// encPrefix starts every encrypted value; aesgcmPrefix names the provider.
const (
	encPrefix    = "k8s:enc:"
	aesgcmPrefix = encPrefix + "aesgcm:v1:"
)

// EncryptionKey is one AES-256 key for values at rest.
type EncryptionKey struct {
	// Name is written in front of each value the key encrypts.
	Name string `json:"name"`
	// Secret is 32 random bytes (base64 in the key file).
	Secret []byte `json:"secret"`
}

type keyFile struct {
	// Keys: the first encrypts, all decrypt.
	Keys []EncryptionKey `json:"keys"`
}

// ValueTransformer changes a resource's stored bytes on the way to and from
// etcd. key is the etcd key of the value.
type ValueTransformer interface {
	ToStorage(key string, plain []byte) ([]byte, error)
	FromStorage(key string, stored []byte) ([]byte, error)
}

// aesGCM is the aesgcm provider over a list of keys.
type aesGCM struct {
	writeKey string
	aeads    map[string]cipher.AEAD
	// names of the keys, for error messages.
	names []string
}

// NewAESGCMTransformer encrypts with keys[0] and decrypts with any of keys.
func NewAESGCMTransformer(keys []EncryptionKey) (ValueTransformer, error) {
	if len(keys) == 0 {
		return nil, errors.New("encryption: no keys")
	}
	t := &aesGCM{writeKey: keys[0].Name, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if _, dup := t.aeads[k.Name]; dup {
			return nil, fmt.Errorf("encryption key %q: listed twice", k.Name)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("encryption key %q: %w", k.Name, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("encryption key %q: %w", k.Name, err)
		}
		t.aeads[k.Name] = aead
		t.names = append(t.names, k.Name)
	}
	return t, nil
}

func checkKey(k EncryptionKey) error {
	if k.Name == "" || strings.ContainsAny(k.Name, ": \t\n") {
		return fmt.Errorf("encryption key name %q: must be non-empty, without ':' or spaces", k.Name)
	}
	if len(k.Secret) != 32 {
		return fmt.Errorf("encryption key %q: %d bytes, want 32 (AES-256)", k.Name, len(k.Secret))
	}
	return nil
}

func (t *aesGCM) ToStorage(key string, plain []byte) ([]byte, error) {
	aead := t.aeads[t.writeKey]
	prefix := aesgcmPrefix + t.writeKey + ":"
	out := make([]byte, len(prefix)+aead.NonceSize(), len(prefix)+aead.NonceSize()+len(plain)+aead.Overhead())
	copy(out, prefix)
	nonce := out[len(prefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", key, err)
	}
	return aead.Seal(out, nonce, plain, []byte(key)), nil
}

func (t *aesGCM) FromStorage(key string, stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, []byte(encPrefix)) {
		if bytes.HasPrefix(stored, []byte("{")) {
			return stored, nil // written unencrypted; rotation encrypts it
		}
		return nil, fmt.Errorf("stored value at %s is neither encrypted (%s...) nor JSON", key, encPrefix)
	}
	rest, ok := bytes.CutPrefix(stored, []byte(aesgcmPrefix))
	if !ok {
		provider, _, _ := strings.Cut(strings.TrimPrefix(string(stored[:min(len(stored), 64)]), encPrefix), ":")
		return nil, fmt.Errorf("stored value at %s is encrypted by provider %q, which skiff does not have (it has aesgcm)", key, provider)
	}
	name, payload, ok := bytes.Cut(rest, []byte(":"))
	if !ok {
		return nil, fmt.Errorf("stored value at %s: encryption prefix without a key name", key)
	}
	aead, ok := t.aeads[string(name)]
	if !ok {
		return nil, fmt.Errorf("stored value at %s is encrypted with key %q, which is not among the server's encryption keys (%s): was the key file (%s) lost or replaced?",
			key, name, strings.Join(t.names, ", "), EncryptionKeysFile)
	}
	if len(payload) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("stored value at %s: encrypted value too short", key)
	}
	plain, err := aead.Open(nil, payload[:aead.NonceSize()], payload[aead.NonceSize():], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("stored value at %s does not decrypt with key %q: the key is wrong or the value was altered", key, name)
	}
	return plain, nil
}

// transformers returns the value transformers of a server: secrets are
// encrypted when keys are given (identity otherwise, as Kubernetes without
// an EncryptionConfiguration).
func transformers(keys []EncryptionKey) (map[string]ValueTransformer, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	t, err := NewAESGCMTransformer(keys)
	if err != nil {
		return nil, err
	}
	return map[string]ValueTransformer{api.Secrets.Name: t}, nil
}

// NewEncryptionKey makes a random AES-256 key with a unique name.
func NewEncryptionKey() (EncryptionKey, error) {
	secret := make([]byte, 32)
	suffix := make([]byte, 3)
	if _, err := rand.Read(secret); err != nil {
		return EncryptionKey{}, fmt.Errorf("make encryption key: %w", err)
	}
	if _, err := rand.Read(suffix); err != nil {
		return EncryptionKey{}, fmt.Errorf("make encryption key: %w", err)
	}
	name := "key-" + time.Now().UTC().Format("20060102") + "-" + hex.EncodeToString(suffix)
	return EncryptionKey{Name: name, Secret: secret}, nil
}

// LoadEncryptionKeys reads a key file. It must not be readable by group or
// others.
func LoadEncryptionKeys(path string) ([]EncryptionKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("encryption keys %s: mode %v lets others read them; chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption keys: %w", err)
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, fmt.Errorf("encryption keys %s: %w", path, err)
	}
	if _, err := NewAESGCMTransformer(kf.Keys); err != nil {
		return nil, fmt.Errorf("encryption keys %s: %w", path, err)
	}
	return kf.Keys, nil
}

// LoadOrCreateEncryptionKeys reads the key file, making it with one new
// key when it does not exist.
func LoadOrCreateEncryptionKeys(path string) ([]EncryptionKey, error) {
	keys, err := LoadEncryptionKeys(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return keys, err
	}
	k, err := NewEncryptionKey()
	if err != nil {
		return nil, err
	}
	if err := writeEncryptionKeys(path, []EncryptionKey{k}); err != nil {
		return nil, err
	}
	return []EncryptionKey{k}, nil
}

// writeEncryptionKeys replaces the key file atomically (write, sync,
// rename), mode 0600.
func writeEncryptionKeys(path string, keys []EncryptionKey) (err error) {
	data, err := json.MarshalIndent(keyFile{Keys: keys}, "", "  ")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("encryption keys %s: %w", path, err)
		}
	}()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".encryption-keys-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Rotation is what RotateEncryptionKey did.
type Rotation struct {
	NewKey      string
	DroppedKeys []string
	// Secrets is how many secrets were re-encrypted.
	Secrets int
}

// RotateEncryptionKey makes a new key, re-encrypts every secret in st with
// it and then drops the old keys from the key file at path. The API server
// must not be running (it holds the old key list). Each step leaves a key
// file that decrypts everything stored: the new key is added before any
// value is rewritten, and the old ones are dropped only after all are.
// After a failure, fix the cause and run it again.
func RotateEncryptionKey(ctx context.Context, st *store.Store, path string) (Rotation, error) {
	old, err := LoadEncryptionKeys(path)
	if err != nil {
		return Rotation{}, err
	}
	k, err := NewEncryptionKey()
	if err != nil {
		return Rotation{}, err
	}
	all := append([]EncryptionKey{k}, old...)
	t, err := NewAESGCMTransformer(all)
	if err != nil {
		return Rotation{}, err
	}
	if err := writeEncryptionKeys(path, all); err != nil {
		return Rotation{}, err
	}
	n, err := reencrypt(ctx, st, store.ListPrefix(api.Secrets.Name, ""), t)
	if err != nil {
		return Rotation{}, fmt.Errorf("re-encrypt secrets (the key file keeps the old keys and new key %q; run the rotation again): %w", k.Name, err)
	}
	if err := writeEncryptionKeys(path, []EncryptionKey{k}); err != nil {
		return Rotation{}, err
	}
	r := Rotation{NewKey: k.Name, Secrets: n}
	for _, o := range old {
		r.DroppedKeys = append(r.DroppedKeys, o.Name)
	}
	return r, nil
}

// reencrypt rewrites every value under prefix with t's write key.
func reencrypt(ctx context.Context, st *store.Store, prefix string, t ValueTransformer) (int, error) {
	kvs, _, err := st.List(ctx, prefix)
	if err != nil {
		return 0, err
	}
	for _, kv := range kvs {
		for {
			plain, err := t.FromStorage(kv.Key, kv.Value)
			if err != nil {
				return 0, err
			}
			enc, err := t.ToStorage(kv.Key, plain)
			if err != nil {
				return 0, err
			}
			_, err = st.Update(ctx, kv.Key, kv.Revision, enc)
			if errors.Is(err, store.ErrNotFound) {
				break // deleted meanwhile
			}
			if !errors.Is(err, store.ErrConflict) {
				if err != nil {
					return 0, err
				}
				break
			}
			if kv, err = st.Get(ctx, kv.Key); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					break
				}
				return 0, err
			}
		}
	}
	return len(kvs), nil
}
