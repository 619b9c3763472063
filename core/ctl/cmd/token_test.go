package cmd

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/pki"
)

var tokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// createdSecret is the secret of the last Create request.
func createdSecret(t *testing.T, e *env) (*apipb.CreateRequest, corev1.Secret) {
	t.Helper()
	var req *apipb.CreateRequest
	for _, r := range e.srv.Requests() {
		if c, ok := r.(*apipb.CreateRequest); ok {
			req = c
		}
	}
	if req == nil {
		t.Fatal("no create request")
	}
	var s corev1.Secret
	if err := json.Unmarshal(req.Json, &s); err != nil {
		t.Fatal(err)
	}
	return req, s
}

func TestTokenCreate(t *testing.T) {
	e := newEnv(t)
	r := e.run("token", "create")
	tok := strings.TrimSuffix(r.out, "\n")
	if r.err != nil || !tokenRE.MatchString(tok) {
		t.Fatalf("token create: %q %v", r.out, r.err)
	}
	req, s := createdSecret(t, e)
	id, secret := tok[:6], tok[7:]
	if req.Resource != "secrets" || req.Namespace != "kube-system" || s.Name != "bootstrap-token-"+id || s.Type != "bootstrap.kubernetes.io/token" {
		t.Errorf("created %s %s/%s of type %s", req.Resource, req.Namespace, s.Name, s.Type)
	}
	for k, want := range map[string]string{
		"token-id": id, "token-secret": secret, "usage-bootstrap-authentication": "true",
		"expiration": "2025-03-02T10:00:00Z", // testNow + 24h, the default TTL
	} {
		if got := string(s.Data[k]); got != want {
			t.Errorf("data[%s] = %q, want %q", k, got, want)
		}
	}
	if _, ok := s.Data["description"]; ok {
		t.Errorf("description without --description: %q", s.Data["description"])
	}

	e.run("token", "create", "abcdef.0123456789abcdef", "--ttl", "0", "--description", "rack 4").expectOut(t, "abcdef.0123456789abcdef\n")
	if _, s := createdSecret(t, e); s.Data["expiration"] != nil || string(s.Data["description"]) != "rack 4" || s.Name != "bootstrap-token-abcdef" {
		t.Errorf("--ttl 0 --description: %s data %q", s.Name, s.Data)
	}
	e.run("token", "create", "ttl2h0.0123456789abcdef", "--ttl", "2h").expectOut(t, "ttl2h0.0123456789abcdef\n")
	if _, s := createdSecret(t, e); string(s.Data["expiration"]) != "2025-03-01T12:00:00Z" {
		t.Errorf("--ttl 2h: expiration %q", s.Data["expiration"])
	}

	for args, want := range map[string]string{
		"token create --ttl -1h":                "error: --ttl -1h0m0s: must not be negative (0: never expires)\nSee 'skiffctl token create -h' for help and examples\n",
		"token create ABCDEF.0123456789abcdef":  "error: token: malformed bootstrap token: want [a-z0-9]{6}.[a-z0-9]{16}\n",
		"token create a b":                      "error: create takes at most one token, got 2 arguments\nSee 'skiffctl token create -h' for help and examples\n",
		"token create abcdef.0123456789abcdef":  "Error from server (AlreadyExists): secrets \"bootstrap-token-abcdef\" already exists\n",
		"token create abcdef.0123456789abcdef0": "error: token: malformed bootstrap token: want [a-z0-9]{6}.[a-z0-9]{16}\n",
	} {
		if r := e.run(strings.Fields(args)...); r.printed != want {
			t.Errorf("%s: printed %q, want %q", args, r.printed, want)
		}
	}
}

func TestTokenCreatePrintJoinCommand(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.IssueClient("admin", []string{pki.GroupAdmins})
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "admin.conf")
	if err := clientconfig.New("skiff", "10.0.0.1:6443", ca.CertPEM, kp.CertPEM, kp.KeyPEM).Write(cfg); err != nil {
		t.Fatal(err)
	}
	pin := apiserver.CACertHash(ca.Cert)
	if !strings.HasPrefix(pin, "sha256:") || len(pin) != len("sha256:")+64 {
		t.Fatalf("pin %q", pin)
	}
	e.run("--config", cfg, "token", "create", "abcdef.0123456789abcdef", "--print-join-command").
		expectOut(t, "skiffd agent --server 10.0.0.1:6443 --token abcdef.0123456789abcdef --ca-cert-hash "+pin+"\n")
	r := e.run("--config", cfg, "token", "create", "--print-join-command", "--ttl", "1h")
	if m := regexp.MustCompile(`^skiffd agent --server 10\.0\.0\.1:6443 --token ([a-z0-9]{6}\.[a-z0-9]{16}) --ca-cert-hash ` + pin + "\n$").FindStringSubmatch(r.out); r.err != nil || m == nil {
		t.Errorf("random token join command: %q %v", r.out, r.err)
	} else if _, s := createdSecret(t, e); s.Name != "bootstrap-token-"+m[1][:6] {
		t.Errorf("the printed token %s is not the one created (%s)", m[1], s.Name)
	}

	// Without a client config there is no join command, and no token is
	// made.
	before := len(e.srv.Requests())
	r = e.run("--config", filepath.Join(dir, "missing.conf"), "token", "create", "--print-join-command")
	if r.err == nil || !strings.Contains(r.printed, "missing.conf") {
		t.Errorf("missing config: printed %q", r.printed)
	}
	if len(e.srv.Requests()) != before {
		t.Error("a token was created though the join command could not be made")
	}
	r = e.run("--config", cfg, "--context", "nope", "token", "create", "--print-join-command")
	if want := "error: client config " + cfg + ": context \"nope\" not found in client config\n"; r.printed != want {
		t.Errorf("unknown context: printed %q, want %q", r.printed, want)
	}
}

// bootstrapToken is a token secret as the server stores it.
func bootstrapToken(id, expiration, description string, usages ...string) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       map[string][]byte{"token-id": []byte(id), "token-secret": []byte("0123456789abcdef")},
	}
	if expiration != "" {
		s.Data["expiration"] = []byte(expiration)
	}
	if description != "" {
		s.Data["description"] = []byte(description)
	}
	for _, u := range usages {
		s.Data["usage-bootstrap-"+u] = []byte("true")
	}
	return s
}

func TestTokenList(t *testing.T) {
	e := newEnv(t)
	e.run("token", "list").expectOut(t, "")
	if r := e.run("token", "list"); r.errOut != "No bootstrap tokens found\n" {
		t.Errorf("no tokens: stderr %q", r.errOut)
	}
	e.srv.Put("secrets", bootstrapToken("day001", "2025-03-02T09:00:00Z", "", "authentication"))
	e.srv.Put("secrets", bootstrapToken("never1", "", "The bootstrap token made by 'skiffd server' at first start.", "authentication"))
	e.srv.Put("secrets", bootstrapToken("expird", "2025-03-01T09:59:00Z", "old", "signing", "authentication"))
	e.srv.Put("secrets", bootstrapToken("nouse1", "2025-03-01T10:30:00Z", ""))
	// Not tokens: an Opaque secret in kube-system, a secret elsewhere.
	opaque := bootstrapToken("opaque", "", "")
	opaque.Type = corev1.SecretTypeOpaque
	e.srv.Put("secrets", opaque)
	other := bootstrapToken("other1", "", "")
	other.Namespace = "default"
	e.srv.Put("secrets", other)

	e.run("token", "list").expectOut(t, `TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION
day001.0123456789abcdef   23h         2025-03-02T09:00:00Z   authentication           <none>
expird.0123456789abcdef   <invalid>   2025-03-01T09:59:00Z   authentication,signing   old
never1.0123456789abcdef   <forever>   <never>                authentication           The bootstrap token made by 'skiffd server' at first start.
nouse1.0123456789abcdef   30m         2025-03-01T10:30:00Z   <none>                   <none>
`)
	e.run("token", "ls", "--no-headers").expectOut(t, `day001.0123456789abcdef   23h         2025-03-02T09:00:00Z   authentication           <none>
expird.0123456789abcdef   <invalid>   2025-03-01T09:59:00Z   authentication,signing   old
never1.0123456789abcdef   <forever>   <never>                authentication           The bootstrap token made by 'skiffd server' at first start.
nouse1.0123456789abcdef   30m         2025-03-01T10:30:00Z   <none>                   <none>
`)
	if r := e.run("token", "list", "x"); r.err == nil {
		t.Error("token list x: no error")
	}
}

func TestTokenDelete(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"abcdef", "ghijkl", "mnopqr"} {
		e.srv.Put("secrets", bootstrapToken(id, "", "", "authentication"))
	}
	e.run("token", "delete", "abcdef").expectOut(t, "bootstrap token \"abcdef\" deleted\n")
	e.run("token", "delete", "ghijkl.0123456789abcdef").expectOut(t, "bootstrap token \"ghijkl\" deleted\n")
	if e.srv.Object("secrets", "kube-system", "bootstrap-token-abcdef") != nil || e.srv.Object("secrets", "kube-system", "bootstrap-token-ghijkl") != nil {
		t.Error("deleted tokens are still there")
	}
	// Several at once; a missing one does not stop the others.
	r := e.run("token", "delete", "zzzzzz", "mnopqr")
	if r.out != "bootstrap token \"mnopqr\" deleted\n" || r.printed != "Error from server (NotFound): secrets \"bootstrap-token-zzzzzz\" not found\n" {
		t.Errorf("delete zzzzzz mnopqr: out %q printed %q", r.out, r.printed)
	}
	for args, want := range map[string]string{
		"token delete":             "error: missing argument; 'token delete' is missing a token ([a-z0-9]{6}.[a-z0-9]{16}) or token id ([a-z0-9]{6})\nSee 'skiffctl token delete -h' for help and examples\n",
		"token delete ABCDEF":      "error: token argument 1: neither a token ([a-z0-9]{6}.[a-z0-9]{16}) nor a token id ([a-z0-9]{6})\n",
		"token delete abcdef.0123": "error: token argument 1: neither a token ([a-z0-9]{6}.[a-z0-9]{16}) nor a token id ([a-z0-9]{6})\n",
	} {
		if r := e.run(strings.Fields(args)...); r.printed != want {
			t.Errorf("%s: printed %q, want %q", args, r.printed, want)
		}
	}
}
