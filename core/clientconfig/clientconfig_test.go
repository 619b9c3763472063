package clientconfig

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCurrentNotSet(t *testing.T) {
	c := New("b", "127.0.0.1:1", nil, nil, nil)
	c.Merge(New("a", "127.0.0.1:2", nil, nil, nil))
	c.CurrentContext = ""
	_, err := c.Current("")
	var unset *NoCurrentContextError
	if !errors.As(err, &unset) {
		t.Fatalf("error %v (%T), want *NoCurrentContextError", err, err)
	}
	if want := "current-context is not set; use 'skiffctl config use-context NAME' (contexts: a, b)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if r, err := c.Current("a"); err != nil || r.Cluster.Server != "127.0.0.1:2" {
		t.Errorf("Current(a) = %+v, %v", r, err)
	}
	if _, err := c.Current("c"); err == nil || err.Error() != `context "c" not found in client config` {
		t.Errorf("Current(c): %v", err)
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A stale temporary file from a crashed writer is not in the way.
	if err := os.WriteFile(p+".tmp", []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := New("a", "127.0.0.1:1", []byte("ca"), []byte("cert"), []byte("key"))
	if err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	got, err := Load(p)
	if err != nil || got.CurrentContext != "a" || string(got.Users[0].ClientKeyData) != "key" {
		t.Errorf("Load = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // config and the stale config.tmp
		t.Errorf("%d files in the directory, want 2", len(entries))
	}
}
