package registry

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// bootstrapSecret is a valid bootstrap token secret for abcdef.0123456789abcdef.
func bootstrapSecret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := NewBootstrapTokenSecret("abcdef.0123456789abcdef", time.Hour, "test", time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBootstrapTokenSecretValid(t *testing.T) {
	st := SecretStrategy{}
	s := bootstrapSecret(t)
	if s.Name != "bootstrap-token-abcdef" || s.Namespace != "kube-system" || s.Type != "bootstrap.kubernetes.io/token" {
		t.Fatalf("secret %s/%s type %s", s.Namespace, s.Name, s.Type)
	}
	for k, want := range map[string]string{
		"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
		"expiration": "2025-03-01T11:00:00Z", "description": "test",
	} {
		if got := string(s.Data[k]); got != want {
			t.Errorf("data[%s] = %q, want %q", k, got, want)
		}
	}
	st.PrepareForCreate(s)
	if errs := st.Validate(s); len(errs) > 0 {
		t.Fatalf("valid bootstrap token refused: %v", errs)
	}
	// kubeadm's own manifest: stringData, no expiration.
	obj, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"bootstrap-token-07401b","namespace":"kube-system"},
		"type":"bootstrap.kubernetes.io/token","stringData":{"token-id":"07401b","token-secret":"f395accd246ae52d",
		"usage-bootstrap-authentication":"true","usage-bootstrap-signing":"true","auth-extra-groups":"system:bootstrappers:worker"}}`))
	if err != nil {
		t.Fatal(err)
	}
	st.PrepareForCreate(obj)
	if errs := st.Validate(obj); len(errs) > 0 {
		t.Fatalf("kubeadm manifest refused: %v", errs)
	}
	if u := BootstrapTokenUsages(obj.(*corev1.Secret)); strings.Join(u, ",") != "authentication,signing" {
		t.Errorf("usages %v", u)
	}
	if s, _ := NewBootstrapTokenSecret("abcdef.0123456789abcdef", 0, "", time.Now()); s.Data["expiration"] != nil || s.Data["description"] != nil {
		t.Errorf("ttl 0: data %v, want no expiration nor description", s.Data)
	}
}

func TestBootstrapTokenSecretRefused(t *testing.T) {
	st := SecretStrategy{}
	for name, tc := range map[string]struct {
		change func(s *corev1.Secret)
		want   string
	}{
		"namespace":    {func(s *corev1.Secret) { s.Namespace = "default" }, `metadata.namespace: Invalid value: "default": a secret of type bootstrap.kubernetes.io/token must be in namespace kube-system`},
		"name":         {func(s *corev1.Secret) { s.Name = "bootstrap-token-zzzzzz" }, `metadata.name: Invalid value: "bootstrap-token-zzzzzz": must be bootstrap-token-<token-id>: "bootstrap-token-abcdef"`},
		"other name":   {func(s *corev1.Secret) { s.Name = "join" }, `metadata.name: Invalid value: "join"`},
		"no id":        {func(s *corev1.Secret) { delete(s.Data, "token-id") }, `data[token-id]: Required value`},
		"bad id":       {func(s *corev1.Secret) { s.Data["token-id"] = []byte("ABCDEF") }, `data[token-id]: Invalid value: "ABCDEF": must be 6 characters of [a-z0-9]`},
		"short id":     {func(s *corev1.Secret) { s.Data["token-id"] = []byte("abc") }, `data[token-id]: Invalid value: "abc"`},
		"no secret":    {func(s *corev1.Secret) { delete(s.Data, "token-secret") }, `data[token-secret]: Required value`},
		"bad secret":   {func(s *corev1.Secret) { s.Data["token-secret"] = []byte("0123456789ABCDEF") }, `data[token-secret]: Invalid value: must be 16 characters of [a-z0-9]`},
		"long secret":  {func(s *corev1.Secret) { s.Data["token-secret"] = []byte("0123456789abcdef0") }, `data[token-secret]: Invalid value`},
		"expiration":   {func(s *corev1.Secret) { s.Data["expiration"] = []byte("tomorrow") }, `data[expiration]: Invalid value: "tomorrow": must be a time in RFC3339 format`},
		"no time zone": {func(s *corev1.Secret) { s.Data["expiration"] = []byte("2025-03-01T11:00:00") }, `data[expiration]: Invalid value`},
	} {
		s := bootstrapSecret(t)
		tc.change(s)
		errs := st.Validate(s)
		if len(errs) == 0 || !strings.Contains(errText(errs), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
		if strings.Contains(errText(errs), "0123456789") {
			t.Errorf("%s: the error shows the token secret: %v", name, errs)
		}
	}
}

func TestSecretTypesOtherThanOpaqueAndBootstrapRefused(t *testing.T) {
	st := SecretStrategy{}
	for _, typ := range []corev1.SecretType{corev1.SecretTypeTLS, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeServiceAccountToken, "example.com/custom"} {
		s := &corev1.Secret{Type: typ}
		s.Name, s.Namespace = "s", "default"
		want := `type: Unsupported value: "` + string(typ) + `": not supported by skiff (supported values: "Opaque", "bootstrap.kubernetes.io/token")`
		if errs := st.Validate(s); !strings.Contains(errText(errs), want) {
			t.Errorf("type %s: %v, want %q", typ, errs, want)
		}
	}
	// An Opaque secret may use a bootstrap token's name: only the type
	// makes it a token (Join checks the type too).
	s := bootstrapSecret(t)
	s.Type = corev1.SecretTypeOpaque
	if errs := st.Validate(s); len(errs) > 0 {
		t.Errorf("opaque secret named like a token: %v", errs)
	}
}

func TestBootstrapTokenHelpers(t *testing.T) {
	for i := 0; i < 50; i++ {
		tok := GenerateBootstrapToken()
		id, secret, err := ParseBootstrapToken(tok)
		if err != nil || len(id) != 6 || len(secret) != 16 || !IsBootstrapTokenID(id) {
			t.Fatalf("generated %q: id %q secret %q %v", tok, id, secret, err)
		}
	}
	if a, b := GenerateBootstrapToken(), GenerateBootstrapToken(); a == b {
		t.Error("two generated tokens are equal")
	}
	for _, bad := range []string{"", "abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef", "abcdef-0123456789abcdef", " abcdef.0123456789abcdef", "abcdef.0123456789abcdef\n"} {
		if _, _, err := ParseBootstrapToken(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		} else if bad != "" && strings.Contains(err.Error(), "0123456789") {
			t.Errorf("parse error shows the token: %v", err)
		}
	}
	if _, err := NewBootstrapTokenSecret("abcdef.0123456789abcdef", -time.Second, "", time.Now()); err == nil {
		t.Error("negative TTL accepted")
	}

	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	s := bootstrapSecret(t) // expires at 11:00
	for at, want := range map[time.Time]bool{now: false, now.Add(time.Hour - time.Second): false, now.Add(time.Hour): true, now.Add(2 * time.Hour): true} {
		if got := BootstrapTokenExpired(s, at); got != want {
			t.Errorf("expired at %s = %v, want %v", at, got, want)
		}
	}
	delete(s.Data, "expiration")
	if BootstrapTokenExpired(s, now.Add(1000*time.Hour)) {
		t.Error("a token without expiration expired")
	}
	if _, ok, err := BootstrapTokenExpiration(s); ok || err != nil {
		t.Errorf("no expiration: ok %v, %v", ok, err)
	}
	s.Data["expiration"] = []byte("soon")
	if !BootstrapTokenExpired(s, now) {
		t.Error("an unparsable expiration does not count as expired")
	}
}
