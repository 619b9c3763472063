package cmd

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/daemon"
)

// --register-with-taints is parsed into Options, comma-separated and
// repeatable.
func TestRegisterWithTaintsFlag(t *testing.T) {
	var o daemon.Options
	var backoff time.Duration
	var insecure []string
	c := &cobra.Command{Use: "agent"}
	agentFlags(c, &o, &backoff, &insecure)
	err := c.ParseFlags([]string{"--register-with-taints", "node-role.kubernetes.io/control-plane=:NoSchedule,dedicated=gpu:NoExecute",
		"--register-with-taints=spot:PreferNoSchedule"})
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Taint{
		{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute},
		{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule},
	}
	if !apiequality.Semantic.DeepEqual(o.RegisterWithTaints, want) {
		t.Errorf("RegisterWithTaints = %+v, want %+v", o.RegisterWithTaints, want)
	}
	if got := c.Flags().Lookup("register-with-taints").Value.String(); got != "node-role.kubernetes.io/control-plane=:NoSchedule,dedicated=gpu:NoExecute,spot:PreferNoSchedule" {
		t.Errorf("flag value %q", got)
	}
}

// skiffd agent and skiffd dev take the flag and refuse a bad entry before
// anything starts, naming it.
func TestRegisterWithTaintsFlagErrors(t *testing.T) {
	for _, mode := range []string{"agent", "dev"} {
		for _, tc := range []struct{ arg, want string }{
			{"dedicated=gpu:NoSchedule,gpu", `invalid argument "dedicated=gpu:NoSchedule,gpu" for "--register-with-taints" flag: taint "gpu": want key=value:Effect or key:Effect`},
			{"k=v:Sometimes", `taint "k=v:Sometimes": effect "Sometimes" is not NoSchedule, PreferNoSchedule or NoExecute`},
			{"a=1:NoSchedule,a=2:NoSchedule", `taint "a=2:NoSchedule": key "a" with effect NoSchedule is given twice`},
		} {
			root := NewRoot(io.Discard, io.Discard)
			sub, _, err := root.Find([]string{mode})
			if err != nil {
				t.Fatal(err)
			}
			// Never start a daemon here, whatever the flags do.
			sub.RunE = func(*cobra.Command, []string) error { return errors.New("the command ran: its flags were accepted") }
			root.SetArgs([]string{mode, "--data-dir", t.TempDir(), "--register-with-taints", tc.arg})
			err = root.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("skiffd %s --register-with-taints %q: %v, want an error with %q", mode, tc.arg, err, tc.want)
			}
		}
	}
}

// skiffd dev takes --node-grace-period like skiffd server, and checks it
// against its own agent's --heartbeat-interval before anything starts.
func TestDevNodeGracePeriodFlag(t *testing.T) {
	root := NewRoot(io.Discard, io.Discard)
	root.SetArgs([]string{"dev", "--data-dir", t.TempDir(), "--node-grace-period", "5s", "--heartbeat-interval", "3s"})
	err := root.Execute()
	const want = "--node-grace-period 5s must be at least twice --heartbeat-interval 3s"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("skiffd dev with a grace period under two heartbeats: err = %v, want it to contain %q", err, want)
	}
}

// `skiffd pki init` makes the files servers share, 0600 where secret, and
// keeps them when run again; a copy gives another server the same CA and
// Secrets keys.
func TestPKIInit(t *testing.T) {
	run := func(dataDir string) string {
		t.Helper()
		var out strings.Builder
		root := NewRoot(&out, io.Discard)
		root.SetArgs([]string{"pki", "init", "--data-dir", dataDir})
		if err := root.Execute(); err != nil {
			t.Fatalf("pki init: %v", err)
		}
		return out.String()
	}
	first := t.TempDir()
	pkiDir := filepath.Join(first, "pki")
	out := run(first)
	for _, f := range apiserver.ClusterKeyFiles {
		path := filepath.Join(pkiDir, f)
		if !strings.Contains(out, "made "+path+"\n") {
			t.Errorf("output does not say it made %s:\n%s", path, out)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if f != "ca.crt" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	before, err := os.ReadFile(filepath.Join(pkiDir, apiserver.EncryptionKeysFile))
	if err != nil {
		t.Fatal(err)
	}
	if out := run(first); strings.Contains(out, "made ") || !strings.Contains(out, "kept "+filepath.Join(pkiDir, "ca.key")) {
		t.Errorf("second run:\n%s", out)
	}
	if after, _ := os.ReadFile(filepath.Join(pkiDir, apiserver.EncryptionKeysFile)); string(after) != string(before) {
		t.Error("a second pki init changed the encryption keys")
	}

	// Another server with copies has the same CA and keys.
	other := filepath.Join(t.TempDir(), "pki")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range apiserver.ClusterKeyFiles {
		data, err := os.ReadFile(filepath.Join(pkiDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(other, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca1, keys1, err := apiserver.LoadOrCreateClusterKeys(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	ca2, keys2, err := apiserver.LoadOrCreateClusterKeys(other)
	if err != nil {
		t.Fatal(err)
	}
	if !ca1.Cert.Equal(ca2.Cert) || len(keys1) != 1 || len(keys2) != 1 || keys1[0].Name != keys2[0].Name || !bytes.Equal(keys1[0].Secret, keys2[0].Secret) {
		t.Errorf("the copy differs: CA equal %v, keys %v / %v", ca1.Cert.Equal(ca2.Cert), keys1, keys2)
	}
}
