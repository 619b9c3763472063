package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/test/testenv"
)

// joinable is an API server with encryption at rest, where tokens are
// made as admin.
type joinable struct {
	addr  string
	ca    *pki.CA
	admin *client.Client
	srv   *apiserver.Server
	etcd  *embedetcd.Etcd
}

func startJoinable(t *testing.T) *joinable {
	t.Helper()
	// Tokens are secrets, encrypted at rest: Join must read them decrypted.
	keys, err := apiserver.LoadOrCreateEncryptionKeys(filepath.Join(t.TempDir(), apiserver.EncryptionKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	s := testapi.StartWith(t, testapi.Options{Configure: func(c *apiserver.Config) { c.EncryptionKeys = keys }})
	return &joinable{addr: s.Addr, ca: s.CA, admin: s.Admin, srv: s.API, etcd: s.Etcd}
}

// addToken stores token's secret (expiring ttl from now; 0: never), after
// change, if any, edits it.
func (j *joinable) addToken(t *testing.T, token string, ttl time.Duration, change func(*corev1.Secret)) {
	t.Helper()
	s, err := registry.NewBootstrapTokenSecret(token, ttl, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(s)
	}
	if err := j.admin.Create(context.Background(), api.Secrets, s.Namespace, s); err != nil {
		t.Fatal(err)
	}
}

func TestJoinIssuesNodeCredentials(t *testing.T) {
	j := startJoinable(t)
	token := registry.GenerateBootstrapToken()
	j.addToken(t, token, time.Hour, nil)
	ctx := context.Background()
	pin := apiserver.CACertHash(j.ca.Cert)

	if _, err := apiserver.JoinCluster(ctx, j.addr, "abcdef.0123456789abcdef", pin, "n1", "10.0.0.1"); status.Code(unwrapGRPC(err)) != codes.Unauthenticated {
		t.Errorf("join with a wrong token: %v, want Unauthenticated", err)
	}
	if _, err := apiserver.JoinCluster(ctx, j.addr, token, "sha256:00", "n1", "10.0.0.1"); err == nil {
		t.Error("join with a wrong CA pin succeeded")
	}
	resp, err := apiserver.JoinCluster(ctx, j.addr, token, pin, "n1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	c := testapi.Connect(t, j.addr, resp.CaPem, pki.KeyPair{CertPEM: resp.ClientCert, KeyPEM: resp.ClientKey})
	// The node may do what nodes do, and no more.
	if _, _, err := client.List[corev1.Pod](ctx, c, api.Pods, "", client.ListOptions{}); err != nil {
		t.Errorf("joined node lists pods: %v", err)
	}
	if _, err := c.API.ListImages(ctx, &apipb.ListImagesRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("joined node lists images: %v, want PermissionDenied", err)
	}
	if _, err := (pki.KeyPair{CertPEM: resp.ServingCert, KeyPEM: resp.ServingKey}).TLSCertificate(); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	// The token's secret is encrypted in etcd, like every secret.
	kv, err := j.etcd.Client.Get(ctx, "/skiff/registry/secrets/kube-system/bootstrap-token-"+token[:6])
	if err != nil || len(kv.Kvs) != 1 {
		t.Fatalf("stored token: %v %v", kv, err)
	}
	if v := kv.Kvs[0].Value; !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:")) || bytes.Contains(v, []byte(token[7:])) {
		t.Errorf("stored token is not encrypted: %q", v)
	}
}

// TestJoinChecksTheToken: each way a token is refused answers the caller
// with the same Unauthenticated error, and logs the reason on the server.
func TestJoinChecksTheToken(t *testing.T) {
	j := startJoinable(t)
	var log testenv.SyncBuffer
	j.srv.SetJoinLog(slog.New(slog.NewTextHandler(&log, nil)))
	never, valid := "nevexp.0123456789abcdef", "valid1.0123456789abcdef"
	j.addToken(t, never, 0, nil)
	j.addToken(t, valid, time.Hour, nil)
	j.addToken(t, "expird.0123456789abcdef", 0, func(s *corev1.Secret) {
		s.Data[registry.BootstrapTokenExpirationKey] = []byte(time.Now().Add(-time.Second).UTC().Format(time.RFC3339))
	})
	j.addToken(t, "nousag.0123456789abcdef", time.Hour, func(s *corev1.Secret) {
		delete(s.Data, registry.BootstrapTokenUsageAuthentication)
		s.Data[registry.BootstrapTokenUsagePrefix+"signing"] = []byte("true")
	})
	j.addToken(t, "usagef.0123456789abcdef", time.Hour, func(s *corev1.Secret) {
		s.Data[registry.BootstrapTokenUsageAuthentication] = []byte("false")
	})
	// Named like a token but Opaque: not a token.
	j.addToken(t, "opaque.0123456789abcdef", time.Hour, func(s *corev1.Secret) { s.Type = corev1.SecretTypeOpaque })

	ctx := context.Background()
	for _, tc := range []struct {
		name, token, logged string
	}{
		{"expired", "expird.0123456789abcdef", `bootstrap token \"expird\": expired`},
		{"wrong secret", "valid1.0123456789abcdee", `bootstrap token \"valid1\": the secret part does not match`},
		{"unknown id", "nosuch.0123456789abcdef", `bootstrap token \"nosuch\": secrets \"bootstrap-token-nosuch\" not found`},
		{"no usage", "nousag.0123456789abcdef", `bootstrap token \"nousag\": usage-bootstrap-authentication is not \"true\"`},
		{"usage false", "usagef.0123456789abcdef", `bootstrap token \"usagef\": usage-bootstrap-authentication is not`},
		{"opaque", "opaque.0123456789abcdef", `is not of type bootstrap.kubernetes.io/token`},
		{"malformed", "valid1.0123456789ABCDEF", `malformed bootstrap token`},
		{"empty", "", `malformed bootstrap token`},
	} {
		_, err := apiserver.JoinCluster(ctx, j.addr, tc.token, "", "n-"+strings.ReplaceAll(tc.name, " ", "-"), "10.0.0.1")
		if status.Code(unwrapGRPC(err)) != codes.Unauthenticated || !strings.Contains(err.Error(), "join: invalid bootstrap token") {
			t.Errorf("%s: %v, want Unauthenticated: join: invalid bootstrap token", tc.name, err)
		}
		if !strings.Contains(log.String(), tc.logged) {
			t.Errorf("%s: server log lacks %q:\n%s", tc.name, tc.logged, log.String())
		}
	}
	if strings.Contains(log.String(), "0123456789abcdee") || strings.Contains(log.String(), "0123456789ABCDEF") {
		t.Errorf("the server log shows a token secret:\n%s", log.String())
	}
	for _, tok := range []string{never, valid} {
		if _, err := apiserver.JoinCluster(ctx, j.addr, tok, "", "n1", "10.0.0.1"); err != nil {
			t.Errorf("join with %s: %v", tok[:6], err)
		}
	}
	// Deleting the secret revokes the token at once.
	if _, err := j.admin.Delete(ctx, api.Secrets, "kube-system", "bootstrap-token-valid1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := apiserver.JoinCluster(ctx, j.addr, valid, "", "n1", "10.0.0.1"); status.Code(unwrapGRPC(err)) != codes.Unauthenticated {
		t.Errorf("join with a deleted token: %v, want Unauthenticated", err)
	}
}

// TestUnauthenticatedCallsAreRefused: without a client certificate only
// Join answers; every other method is refused.
func TestUnauthenticatedCallsAreRefused(t *testing.T) {
	j := startJoinable(t)
	token := registry.GenerateBootstrapToken()
	j.addToken(t, token, time.Hour, nil)
	conn, err := grpc.NewClient(j.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: j.ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	anon := apipb.NewSkiffClient(conn)
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without a certificate: %v, want Unauthenticated", name, err)
		}
	}
	_, err = anon.List(ctx, &apipb.ListRequest{Resource: "pods"})
	check("List", err)
	_, err = anon.Get(ctx, &apipb.GetRequest{Resource: "secrets", Namespace: "kube-system", Name: "bootstrap-token-" + token[:6]})
	check("Get", err)
	_, err = anon.Version(ctx, &apipb.VersionRequest{})
	check("Version", err)
	_, err = anon.ReportPlugins(ctx, &apipb.ReportPluginsRequest{Node: "x"})
	check("ReportPlugins", err)
	w, err := anon.Watch(ctx, &apipb.WatchRequest{Resource: "pods"})
	if err == nil {
		_, err = w.Recv()
	}
	check("Watch", err)
	if _, err := anon.Join(ctx, &apipb.JoinRequest{Token: token, NodeName: "n2", NodeIp: "10.0.0.2"}); err != nil {
		t.Errorf("Join without a certificate: %v", err)
	}
	if _, err := anon.Join(ctx, &apipb.JoinRequest{Token: "", NodeName: "n2", NodeIp: "10.0.0.2"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Join without a token: %v, want Unauthenticated", err)
	}
}

func TestJoinTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), apiserver.JoinTokenFile)
	if _, err := apiserver.ReadJoinToken(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read a missing file: %v, want ErrNotExist", err)
	}
	token := registry.GenerateBootstrapToken()
	if err := apiserver.WriteJoinToken(p, token); err != nil {
		t.Fatal(err)
	}
	// The token file is private, and holds nothing else.
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("files beside the token: %v", ents)
	}
	if again, err := apiserver.ReadJoinToken(p); err != nil || again != token {
		t.Errorf("reload token: %q %v, want %q", again, err, token)
	}
	if err := os.WriteFile(p, []byte("not-a-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := apiserver.ReadJoinToken(p); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("read a malformed token: %v", err)
	}
}

func unwrapGRPC(err error) error {
	for e := err; e != nil; {
		if _, ok := status.FromError(e); ok {
			return e
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return err
}
