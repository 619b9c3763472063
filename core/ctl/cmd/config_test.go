package cmd

import (
	"bytes"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/core/clientconfig"
)

// twoContexts is a client config with contexts skiff-dev (namespace
// default) and skiff-lab (namespace lab, current), each with its own
// cluster and user.
func twoContexts() *clientconfig.Config {
	cfg := clientconfig.New("skiff-dev", "127.0.0.1:6443", []byte("dev CA"), []byte("dev cert"), []byte("dev key"))
	lab := clientconfig.New("skiff-lab", "10.0.0.1:6443", []byte("lab CA"), []byte("lab cert"), []byte("lab key"))
	lab.Contexts[0].Namespace = "lab"
	cfg.Merge(lab)
	return cfg
}

// writeClientConfigFile writes cfg to a fresh directory and returns its path.
func writeClientConfigFile(t *testing.T, cfg *clientconfig.Config) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := cfg.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func readClientConfigFile(t *testing.T, path string) *clientconfig.Config {
	t.Helper()
	cfg, err := clientconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// expectPrinted fails unless the command failed and printed want.
func (r result) expectPrinted(t *testing.T, want string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("no error; stdout %q, want error %q", r.out, want)
	}
	if r.printed != want {
		t.Errorf("printed %q, want %q", r.printed, want)
	}
}

func TestConfigGetContexts(t *testing.T) {
	e := newEnv(t)
	p := writeClientConfigFile(t, twoContexts())
	e.run("--config", p, "config", "get-contexts").expectOut(t, ""+
		"CURRENT   NAME        CLUSTER     AUTHINFO    NAMESPACE\n"+
		"          skiff-dev   skiff-dev   skiff-dev   default\n"+
		"*         skiff-lab   skiff-lab   skiff-lab   lab\n")
	e.run("--config", p, "config", "get-contexts", "skiff-dev", "--no-headers").expectOut(t,
		"      skiff-dev   skiff-dev   skiff-dev   default\n")
	e.run("--config", p, "config", "get-contexts", "-o", "name").expectOut(t, "skiff-dev\nskiff-lab\n")

	// Unknown names are errors after what was found, as in kubectl.
	r := e.run("--config", p, "config", "get-contexts", "nope", "skiff-lab", "-o", "name")
	if r.out != "skiff-lab\n" {
		t.Errorf("stdout %q", r.out)
	}
	r.expectPrinted(t, "error: context nope not found\n")
	e.run("--config", p, "config", "get-contexts", "-o", "wide").
		expectPrinted(t, "error: --output wide is not available in skiffctl config get-contexts; the formats are: name\nSee 'skiffctl config get-contexts -h' for help and examples\n")

	// A default file that does not exist is an empty config; one named
	// with --config must exist.
	missing := filepath.Join(t.TempDir(), "config")
	t.Setenv(clientconfig.EnvVar, missing)
	e.run("config", "get-contexts").expectOut(t, "CURRENT   NAME   CLUSTER   AUTHINFO   NAMESPACE\n")
	r = e.run("--config", missing, "config", "get-contexts")
	if r.err == nil || !strings.Contains(r.printed, "client config "+missing+" does not exist") {
		t.Errorf("explicit missing config: printed %q", r.printed)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("reading made the file: %v", err)
	}
}

func TestConfigCurrentContext(t *testing.T) {
	e := newEnv(t)
	cfg := twoContexts()
	p := writeClientConfigFile(t, cfg)
	t.Setenv(clientconfig.EnvVar, p)
	e.run("config", "current-context").expectOut(t, "skiff-lab\n")

	cfg.CurrentContext = ""
	if err := cfg.Write(p); err != nil {
		t.Fatal(err)
	}
	e.run("config", "current-context").expectPrinted(t, "error: current-context is not set\n")
	t.Setenv(clientconfig.EnvVar, filepath.Join(t.TempDir(), "none"))
	e.run("config", "current-context").expectPrinted(t, "error: current-context is not set\n")
}

func TestConfigUseContext(t *testing.T) {
	e := newEnv(t)
	p := writeClientConfigFile(t, twoContexts())
	// A looser mode left by hand is tightened by the rewrite.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	e.run("--config", p, "config", "use-context", "skiff-dev").expectOut(t, "Switched to context \"skiff-dev\".\n")
	got := readClientConfigFile(t, p)
	if got.CurrentContext != "skiff-dev" {
		t.Errorf("current-context %q", got.CurrentContext)
	}
	if len(got.Contexts) != 2 || len(got.Clusters) != 2 || len(got.Users) != 2 || string(got.Users[1].ClientKeyData) != "lab key" {
		t.Errorf("the rest of the config changed: %+v", got)
	}
	expectConfigFile(t, p)
	e.run("--config", p, "config", "use", "skiff-lab").expectOut(t, "Switched to context \"skiff-lab\".\n")

	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{
		"use-context nope":    "error: no context exists with the name: \"nope\"\n",
		"use-context":         "error: Unexpected args: []\nSee 'skiffctl config use-context -h' for help and examples\n",
		"use-context a b":     "error: Unexpected args: [a b]\nSee 'skiffctl config use-context -h' for help and examples\n",
		"use-context    \"\"": "error: empty context names are not allowed\n",
	} {
		fields := strings.Fields(args)
		if fields[len(fields)-1] == `""` {
			fields[len(fields)-1] = ""
		}
		e.run(append([]string{"--config", p, "config"}, fields...)...).expectPrinted(t, want)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Errorf("a failed use-context changed the file:\n%s", after)
	}
}

// expectConfigFile checks that path is a mode 0600 file with no temporary
// file left beside it.
func expectConfigFile(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("%s: mode %v, want -rw-------", path, fi.Mode())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	// Only the config and its lock file (clientconfig.Modify): no
	// temporary file left over.
	var names []string
	for _, en := range entries {
		if en.Name() != filepath.Base(path)+".lock" {
			names = append(names, en.Name())
		}
	}
	if len(names) != 1 {
		t.Errorf("files beside the config: %v", names)
	}
}

func TestConfigView(t *testing.T) {
	e := newEnv(t)
	p := writeClientConfigFile(t, twoContexts())
	t.Setenv(clientconfig.EnvVar, p)
	e.run("config", "view").expectOut(t, `apiVersion: skiff.dev/v1
clusters:
- certificate-authority-data: DATA+OMITTED
  name: skiff-dev
  server: 127.0.0.1:6443
- certificate-authority-data: DATA+OMITTED
  name: skiff-lab
  server: 10.0.0.1:6443
contexts:
- cluster: skiff-dev
  name: skiff-dev
  namespace: default
  user: skiff-dev
- cluster: skiff-lab
  name: skiff-lab
  namespace: lab
  user: skiff-lab
current-context: skiff-lab
kind: Config
users:
- client-certificate-data: DATA+OMITTED
  client-key-data: DATA+OMITTED
  name: skiff-dev
- client-certificate-data: DATA+OMITTED
  client-key-data: DATA+OMITTED
  name: skiff-lab
`)
	b64 := base64.StdEncoding.EncodeToString
	e.run("config", "view", "--minify", "--raw").expectOut(t, `apiVersion: skiff.dev/v1
clusters:
- certificate-authority-data: `+b64([]byte("lab CA"))+`
  name: skiff-lab
  server: 10.0.0.1:6443
contexts:
- cluster: skiff-lab
  name: skiff-lab
  namespace: lab
  user: skiff-lab
current-context: skiff-lab
kind: Config
users:
- client-certificate-data: `+b64([]byte("lab cert"))+`
  client-key-data: `+b64([]byte("lab key"))+`
  name: skiff-lab
`)
	// --raw output is a config skiffctl reads back unchanged.
	r := e.run("config", "view", "--raw")
	raw := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(raw, []byte(r.out), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := readClientConfigFile(t, raw), twoContexts(); string(got.Users[0].ClientKeyData) != "dev key" ||
		string(got.Clusters[1].CertificateAuthorityData) != "lab CA" || got.CurrentContext != want.CurrentContext {
		t.Errorf("--raw read back as %+v", got)
	}

	e.run("--context", "skiff-dev", "config", "view", "--minify", "-o", "json").expectOut(t, `{
    "apiVersion": "skiff.dev/v1",
    "kind": "Config",
    "current-context": "skiff-dev",
    "clusters": [
        {
            "name": "skiff-dev",
            "server": "127.0.0.1:6443",
            "certificate-authority-data": "DATA+OMITTED"
        }
    ],
    "users": [
        {
            "name": "skiff-dev",
            "client-certificate-data": "DATA+OMITTED",
            "client-key-data": "DATA+OMITTED"
        }
    ],
    "contexts": [
        {
            "name": "skiff-dev",
            "cluster": "skiff-dev",
            "user": "skiff-dev",
            "namespace": "default"
        }
    ]
}
`)
	e.run("config", "view", "-o", "wide").
		expectPrinted(t, "error: unable to match a printer suitable for the output format \"wide\", allowed formats are: json,yaml\n")
	e.run("--context", "nope", "config", "view", "--minify").expectPrinted(t, "error: cannot locate context nope\n")

	unset := twoContexts()
	unset.CurrentContext = ""
	t.Setenv(clientconfig.EnvVar, writeClientConfigFile(t, unset))
	e.run("config", "view", "--minify").expectPrinted(t, "error: current-context must exist in order to minify\n")
}

func TestConfigSetContext(t *testing.T) {
	e := newEnv(t)
	p := writeClientConfigFile(t, twoContexts())
	t.Setenv(clientconfig.EnvVar, p)
	e.run("config", "set-context", "--current", "--namespace=dev").expectOut(t, "Context \"skiff-lab\" modified.\n")
	got := readClientConfigFile(t, p)
	if cx := got.Context("skiff-lab"); cx == nil || cx.Namespace != "dev" || cx.Cluster != "skiff-lab" || cx.User != "skiff-lab" {
		t.Errorf("skiff-lab is %+v", cx)
	}
	if cx := got.Context("skiff-dev"); cx == nil || cx.Namespace != "default" {
		t.Errorf("skiff-dev is %+v", cx)
	}
	expectConfigFile(t, p)

	// -n works too, and an empty namespace clears it.
	e.run("config", "set-context", "skiff-dev", "-n", "").expectOut(t, "Context \"skiff-dev\" modified.\n")
	if cx := readClientConfigFile(t, p).Context("skiff-dev"); cx.Namespace != "" {
		t.Errorf("skiff-dev is %+v", cx)
	}
	e.run("config", "set-context", "mixed", "--cluster=skiff-dev", "--user=skiff-lab", "--namespace=ops").
		expectOut(t, "Context \"mixed\" created.\n")
	e.run("config", "get-contexts").expectOut(t, ""+
		"CURRENT   NAME        CLUSTER     AUTHINFO    NAMESPACE\n"+
		"          mixed       skiff-dev   skiff-lab   ops\n"+
		"          skiff-dev   skiff-dev   skiff-dev   \n"+
		"*         skiff-lab   skiff-lab   skiff-lab   dev\n")

	for args, want := range map[string]string{
		"set-context":                           "error: you must specify a non-empty context name or --current\n",
		"set-context x --current":               "error: you cannot specify both a context name and --current\n",
		"set-context x y":                       "error: Unexpected args: [x y]\nSee 'skiffctl config set-context -h' for help and examples\n",
		"set-context --current --namespace=A_B": "error: invalid namespace \"A_B\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')\n",
	} {
		e.run(append([]string{"config"}, strings.Fields(args)...)...).expectPrinted(t, want)
	}

	// After `skiffctl cluster delete` of the current cluster.
	e.run("config", "use-context", "mixed").expectOut(t, "Switched to context \"mixed\".\n")
	cfg := readClientConfigFile(t, p)
	cfg.CurrentContext = ""
	if err := cfg.Write(p); err != nil {
		t.Fatal(err)
	}
	e.run("config", "set-context", "--current", "--namespace=dev").expectPrinted(t, "error: no current context is set\n")

	// A config made from nothing.
	fresh := filepath.Join(t.TempDir(), "sub", "config")
	t.Setenv(clientconfig.EnvVar, fresh)
	e.run("config", "set-context", "new", "--namespace=dev").expectOut(t, "Context \"new\" created.\n")
	if got := readClientConfigFile(t, fresh); got.APIVersion != "skiff.dev/v1" || got.Kind != "Config" || len(got.Contexts) != 1 {
		t.Errorf("fresh config %+v", got)
	}
	expectConfigFile(t, fresh)
}

func TestConfigWriteFollowsSymlink(t *testing.T) {
	e := newEnv(t)
	target := writeClientConfigFile(t, twoContexts())
	link := filepath.Join(t.TempDir(), "config")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	e.run("--config", link, "config", "use-context", "skiff-dev").expectOut(t, "Switched to context \"skiff-dev\".\n")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if got := readClientConfigFile(t, target); got.CurrentContext != "skiff-dev" {
		t.Errorf("target current-context %q", got.CurrentContext)
	}
	expectConfigFile(t, target)
}

// TestFactoryCurrentContextNotSet is what `skiffctl get nodes` prints after
// `skiffctl cluster delete` removed the current context.
func TestFactoryCurrentContextNotSet(t *testing.T) {
	cfg := twoContexts()
	cfg.CurrentContext = ""
	p := writeClientConfigFile(t, cfg)
	clientErr := func(flags *ConfigFlags) string {
		t.Helper()
		_, err := NewFactory(flags).Client()
		var b strings.Builder
		PrintError(&b, err)
		return b.String()
	}
	if got, want := clientErr(&ConfigFlags{ConfigPath: p}),
		"error: current-context is not set; use 'skiffctl config use-context NAME' (contexts: skiff-dev, skiff-lab)\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	// A --context that names nothing still says which file.
	if got, want := clientErr(&ConfigFlags{ConfigPath: p, Context: "nope"}),
		"error: client config "+p+": context \"nope\" not found in client config\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
	empty := writeClientConfigFile(t, &clientconfig.Config{APIVersion: "skiff.dev/v1", Kind: "Config"})
	if got, want := clientErr(&ConfigFlags{ConfigPath: empty}),
		"error: current-context is not set and the client config has no contexts: start a cluster with `skiffd dev` or `skiffctl cluster create`\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

// --server (-s), as kubectl's, replaces the context's server address, for
// every command that connects or prints it; the file is not changed.
func TestServerFlagReplacesTheContextsServer(t *testing.T) {
	p := writeClientConfigFile(t, twoContexts())
	_, r, err := (&ConfigFlags{ConfigPath: p}).resolve()
	if err != nil {
		t.Fatal(err)
	}
	before := r.Cluster.Server
	if before == "" || before == "10.0.0.100:6443" {
		t.Fatalf("the test config's server is %q", before)
	}
	e := newEnv(t)
	var got *ConfigFlags
	root := NewRootCommand(IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, func(flags *ConfigFlags) Factory {
		got = flags
		return &testFactory{e: e, flags: flags}
	})
	root.SetArgs([]string{"--config", p, "-s", "10.0.0.100:6443", "get", "pods"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	_, r, err = got.resolve()
	if err != nil || r.Cluster.Server != "10.0.0.100:6443" {
		t.Errorf("with -s: server %q, %v", r.Cluster.Server, err)
	}
	for in, want := range map[string]string{"https://10.0.0.100:6443/": "10.0.0.100:6443", "https://lb.example.com:6443": "lb.example.com:6443"} {
		if _, r, err := (&ConfigFlags{ConfigPath: p, Server: in}).resolve(); err != nil || r.Cluster.Server != want {
			t.Errorf("--server %s: %q, %v, want %s", in, r.Cluster.Server, err, want)
		}
	}
	for in, want := range map[string]string{"http://10.0.0.100:6443": "served over TLS", "10.0.0.100": "want HOST:PORT",
		"https://lb:6443/api": "port in 1-65535", "lb:": "port in 1-65535", ":6443": "port in 1-65535"} {
		if _, _, err := (&ConfigFlags{ConfigPath: p, Server: in}).resolve(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--server %s: %v, want %q", in, err, want)
		}
	}
	if now := readClientConfigFile(t, p); now.Clusters[0].Server != before && now.Clusters[1].Server != before {
		t.Errorf("the client config file was changed: %+v", now.Clusters)
	}
}
