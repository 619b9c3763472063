package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/store"
)

func mustKey(t *testing.T) EncryptionKey {
	t.Helper()
	k, err := NewEncryptionKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAESGCMTransformer(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	t1, err := NewAESGCMTransformer([]EncryptionKey{k1})
	if err != nil {
		t.Fatal(err)
	}
	const key = "/skiff/registry/secrets/default/s"
	plain := []byte(`{"data":{"k":"c2VjcmV0"}}`)
	enc, err := t1.ToStorage(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, []byte("k8s:enc:aesgcm:v1:"+k1.Name+":")) || bytes.Contains(enc, plain) || bytes.Contains(enc, []byte("c2VjcmV0")) {
		t.Fatalf("stored value %q: want the aesgcm prefix and no plaintext", enc)
	}
	if again, _ := t1.ToStorage(key, plain); bytes.Equal(again, enc) {
		t.Fatal("two encryptions are equal: nonce reused")
	}
	got, err := t1.FromStorage(key, enc)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip = %q, %v", got, err)
	}

	// Rotation: [k2, k1] writes with k2 and still reads k1's values.
	t21, err := NewAESGCMTransformer([]EncryptionKey{k2, k1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := t21.FromStorage(key, enc); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("old key during rotation: %q, %v", got, err)
	}
	if enc2, _ := t21.ToStorage(key, plain); !bytes.HasPrefix(enc2, []byte("k8s:enc:aesgcm:v1:"+k2.Name+":")) {
		t.Fatalf("rotation writes with %q", enc2[:40])
	}

	// Errors, never garbage.
	t2, _ := NewAESGCMTransformer([]EncryptionKey{k2})
	if _, err := t2.FromStorage(key, enc); err == nil || !strings.Contains(err.Error(), `encrypted with key "`+k1.Name+`", which is not among`) {
		t.Errorf("missing key: %v", err)
	}
	wrong := EncryptionKey{Name: k1.Name, Secret: k2.Secret} // same name, other secret
	tw, _ := NewAESGCMTransformer([]EncryptionKey{wrong})
	if _, err := tw.FromStorage(key, enc); err == nil || !strings.Contains(err.Error(), "the key is wrong or the value was altered") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := t1.FromStorage("/skiff/registry/secrets/default/other", enc); err == nil {
		t.Error("a value moved to another key decrypted")
	}
	tampered := bytes.Clone(enc)
	tampered[len(tampered)-1] ^= 1
	if _, err := t1.FromStorage(key, tampered); err == nil {
		t.Error("a tampered value decrypted")
	}
	if _, err := t1.FromStorage(key, []byte("k8s:enc:kms:v2:x:abc")); err == nil || !strings.Contains(err.Error(), `provider "kms"`) {
		t.Errorf("unknown provider: %v", err)
	}
	if got, err := t1.FromStorage(key, plain); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("unencrypted JSON: %q, %v", got, err)
	}
	if _, err := t1.FromStorage(key, []byte("garbage")); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := NewAESGCMTransformer([]EncryptionKey{{Name: "a:b", Secret: k1.Secret}}); err == nil {
		t.Error("a key name with ':' accepted")
	}
	if _, err := NewAESGCMTransformer([]EncryptionKey{{Name: "short", Secret: []byte("x")}}); err == nil {
		t.Error("a short key accepted")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pki", EncryptionKeysFile)
	keys, err := LoadOrCreateEncryptionKeys(path)
	if err != nil || len(keys) != 1 {
		t.Fatalf("create: %v, %v", keys, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode(), err)
	}
	again, err := LoadOrCreateEncryptionKeys(path)
	if err != nil || again[0].Name != keys[0].Name || !bytes.Equal(again[0].Secret, keys[0].Secret) {
		t.Fatalf("reload gave %v, %v", again, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEncryptionKeys(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
}

// server is an API server with encryption keys on its own etcd.
type server struct {
	etcd  *embedetcd.Etcd
	admin *client.Client
}

func startServer(t *testing.T, dir string, keys []EncryptionKey) *server {
	t.Helper()
	e, err := embedetcd.Start(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ca, err := pki.LoadOrCreateCA(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	serving, err := ca.IssueServer("skiff-apiserver", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ca.IssueClient("admin", []string{pki.GroupAdmins})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: store.New(e.Client), CA: ca, ServingCert: serving, AgentClientCert: admin, EncryptionKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	r, err := clientconfig.New("test", lis.Addr().String(), ca.CertPEM, admin.CertPEM, admin.KeyPEM).Current("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &server{etcd: e, admin: c}
}

// grepDir reports the files under dir that contain any of needles.
func grepDir(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				hits = append(hits, p+" contains "+n)
			}
		}
		return nil
	})
	return hits
}

func TestSecretsEncryptedAtRestAndRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "pki", EncryptionKeysFile)
	keys, err := LoadOrCreateEncryptionKeys(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, keys)
	const value = "hunter2-correct-horse"
	sec := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		StringData: map[string]string{"password": value},
	}
	if err := s.admin.Create(ctx, api.Secrets, "default", sec); err != nil {
		t.Fatal(err)
	}
	// ConfigMaps are not encrypted.
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"k": "plain-config"}}
	if err := s.admin.Create(ctx, api.ConfigMaps, "default", cm); err != nil {
		t.Fatal(err)
	}

	raw, err := s.etcd.Client.Get(ctx, store.Key("secrets", "default", "db"))
	if err != nil || len(raw.Kvs) != 1 {
		t.Fatalf("raw get: %v", err)
	}
	stored := raw.Kvs[0].Value
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	if !bytes.HasPrefix(stored, []byte("k8s:enc:aesgcm:v1:"+keys[0].Name+":")) || bytes.Contains(stored, []byte(value)) || bytes.Contains(stored, []byte(b64)) {
		t.Fatalf("etcd holds %q", stored)
	}
	if hits := grepDir(t, filepath.Join(dir, "etcd"), value, b64); len(hits) > 0 {
		t.Fatalf("the secret is readable in etcd's files: %v", hits)
	}
	if hits := grepDir(t, filepath.Join(dir, "etcd"), "plain-config"); len(hits) == 0 {
		t.Fatal("the configmap is not in etcd's files: the grep cannot find anything")
	}

	var got corev1.Secret
	if err := s.admin.Get(ctx, api.Secrets, "default", "db", &got); err != nil || string(got.Data["password"]) != value {
		t.Fatalf("get: %q, %v", got.Data["password"], err)
	}
	list, _, err := client.List[corev1.Secret](ctx, s.admin, api.Secrets, "", client.ListOptions{})
	if err != nil || len(list) != 1 || string(list[0].Data["password"]) != value {
		t.Fatalf("list: %v, %v", list, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, _, err := s.admin.Watch(wctx, api.Secrets, "default", client.ListOptions{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; !bytes.Contains(ev.Object, []byte(b64)) {
		t.Fatalf("watch sent %s", ev.Object)
	}
	cancel()

	// Offline rotation: a new key, every secret rewritten with it, the
	// old key gone from the file.
	st := store.New(s.etcd.Client)
	rot, err := RotateEncryptionKey(ctx, st, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if rot.Secrets != 1 || len(rot.DroppedKeys) != 1 || rot.DroppedKeys[0] != keys[0].Name {
		t.Fatalf("rotation = %+v", rot)
	}
	newKeys, err := LoadEncryptionKeys(keyPath)
	if err != nil || len(newKeys) != 1 || newKeys[0].Name != rot.NewKey {
		t.Fatalf("key file after rotation: %v, %v", newKeys, err)
	}
	raw, _ = s.etcd.Client.Get(ctx, store.Key("secrets", "default", "db"))
	if !bytes.HasPrefix(raw.Kvs[0].Value, []byte("k8s:enc:aesgcm:v1:"+rot.NewKey+":")) {
		t.Fatalf("after rotation etcd holds %q", raw.Kvs[0].Value[:60])
	}

	// The running server (old key only) gives a clear error, not garbage;
	// the new key reads the rotated value.
	err = s.admin.Get(ctx, api.Secrets, "default", "db", &got)
	if err == nil || !strings.Contains(err.Error(), `encrypted with key "`+rot.NewKey+`"`) {
		t.Fatalf("get with a lost key: %v", err)
	}
	tr, err := NewAESGCMTransformer(newKeys)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := tr.FromStorage(string(raw.Kvs[0].Key), raw.Kvs[0].Value); err != nil || !bytes.Contains(plain, []byte(b64)) {
		t.Fatalf("the new key cannot read the rotated secret: %v", err)
	}
}
