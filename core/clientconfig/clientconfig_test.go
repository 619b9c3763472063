package clientconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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

// Writers at once each keep their change: Modify holds the file's lock from
// read to write. Without it, most of these read the same old file and the
// last rename wins.
func TestModifyConcurrentWritersLoseNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", i)
			errs <- Modify(path, true, func(c *Config) error {
				c.Merge(New(name, "127.0.0.1:6443", []byte("ca"), []byte("cert"), []byte("key")))
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Contexts) != writers || len(c.Clusters) != writers || len(c.Users) != writers {
		t.Fatalf("after %d writers: %d contexts, %d clusters, %d users", writers, len(c.Contexts), len(c.Clusters), len(c.Users))
	}
	if c.APIVersion != "skiff.dev/v1" || c.Kind != "Config" {
		t.Errorf("a config made from nothing: apiVersion %q kind %q", c.APIVersion, c.Kind)
	}

	// A failed change writes nothing; a missing file is an error unless
	// missingOK.
	before, _ := os.ReadFile(path)
	if err := Modify(path, false, func(c *Config) error { c.Contexts = nil; return errors.New("no") }); err == nil {
		t.Error("Modify returned nil for a failed change")
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed change was written")
	}
	if err := Modify(filepath.Join(t.TempDir(), "none"), false, func(*Config) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Modify of a missing file without missingOK: %v, want ErrNotExist", err)
	}

	c.RemoveContext("c3")
	if c.Context("c3") != nil || len(c.Clusters) != writers-1 || len(c.Users) != writers-1 {
		t.Errorf("RemoveContext left %v", c.ContextNames())
	}
}
