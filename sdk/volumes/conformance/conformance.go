// Package conformance is the test suite every volumes plugin runs:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) volumes.Volumes { return myplugin.New() })
//	}
//
// It drives the plugin through the real gRPC path (go-plugin's
// TestPluginGRPCConn), the way the core does, with a DataDir under
// t.TempDir(), and checks the result on disk.
//
// Tests that mount (emptyDir on Memory, secrets) need root: they fail when
// CI is set in the environment and the test is not root, and are skipped
// otherwise. Each test tears its pods down, and unmounts whatever is left
// mounted under the paths the plugin returned, even when it fails.
package conformance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Run runs the suite. factory returns a new plugin, not yet configured, for
// each test.
func Run(t *testing.T, factory func(t *testing.T) volumes.Volumes) {
	t.Run("Info", func(t *testing.T) { testInfo(t, connect(t, factory(t))) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, factory(t)))
		})
	}
}

var cases = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"EmptyDirOnDisk", testEmptyDirOnDisk},
	{"PrepareIsIdempotent", testPrepareIdempotent},
	{"MountsInOrder", testMountsInOrder},
	{"InvalidItemPaths", testInvalidItemPaths},
	{"FilesWithItemsAndModes", testFilesItemsAndModes},
	{"FilesAllKeysDefaultMode", testFilesAllKeys},
	{"FilesUpdate", testFilesUpdate},
	{"TeardownUnknownPod", testTeardownUnknown},
	{"EmptyDirInMemory", testEmptyDirMemory},
	{"SensitiveFilesOnTmpfs", testSensitiveFiles},
	{"FilesKeep", testFilesKeep},
	{"HostPathTypes", testHostPathTypes},
	{"InvalidSubPaths", testInvalidSubPaths},
	{"SubPathInEmptyDir", testSubPathEmptyDir},
	{"SubPathInFilesVolume", testSubPathFiles},
	{"SubPathSymlinksStayInside", testSubPathSymlinks},
}

func connect(t *testing.T, impl volumes.Volumes) volumes.Volumes {
	t.Helper()
	kind := string(base.KindVolumes)
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		kind: &volumes.GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller service.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %q: %v", kind, err)
	}
	v, ok := raw.(volumes.Volumes)
	if !ok {
		t.Fatalf("dispense %q: got %T, which is not a volumes.Volumes", kind, raw)
	}
	return v
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// env is one test's configured plugin, and what it must clean up.
type env struct {
	v       volumes.Volumes
	dataDir string
	pods    map[string]bool
	paths   []string
}

func newEnv(t *testing.T, impl volumes.Volumes) *env {
	e := &env{dataDir: t.TempDir(), pods: make(map[string]bool)}
	// Registered after TempDir: runs before its removal.
	t.Cleanup(func() { e.cleanup(t) })
	e.v = connect(t, impl) // its cleanup runs before e.cleanup
	if err := e.v.Configure(ctx(t), base.Config{NodeName: "conformance", DataDir: e.dataDir}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	// Tear pods down through the plugin while it is still connected.
	t.Cleanup(func() { e.teardownAll(t) })
	return e
}

func (e *env) teardownAll(t *testing.T) {
	for uid := range e.pods {
		if err := e.v.Teardown(context.Background(), uid); err != nil {
			t.Errorf("cleanup: Teardown(%q): %v", uid, err)
		}
	}
}

// cleanup unmounts whatever the plugin left mounted, so that a failing
// plugin does not leave mounts behind on the test machine.
func (e *env) cleanup(t *testing.T) {
	for _, p := range append(e.paths, e.dataDir) {
		for _, m := range mountsUnder(p) {
			t.Errorf("cleanup: %s was still mounted after Teardown; unmounting it", m)
			if err := unmount(m); err != nil {
				t.Errorf("cleanup: unmount %s: %v", m, err)
			}
		}
	}
}

func (e *env) prepare(t *testing.T, pod volumes.Pod) []volumes.Mounted {
	t.Helper()
	e.pods[pod.UID] = true
	ms, err := e.v.Prepare(ctx(t), pod)
	if err != nil {
		t.Fatalf("Prepare(pod %q): %v", pod.Name, err)
	}
	if len(ms) != len(pod.Volumes) {
		t.Fatalf("Prepare(pod %q) returned %d mounts for %d volumes", pod.Name, len(ms), len(pod.Volumes))
	}
	for i, m := range ms {
		e.paths = append(e.paths, m.HostPath)
		if m.Name != pod.Volumes[i].Name {
			t.Fatalf("mount %d is %q, want %q (mounts must follow the order of the volumes)", i, m.Name, pod.Volumes[i].Name)
		}
		if !filepath.IsAbs(m.HostPath) {
			t.Fatalf("volume %q: host path %q is not absolute", m.Name, m.HostPath)
		}
		if fi, err := os.Stat(m.HostPath); err != nil || !fi.IsDir() {
			t.Fatalf("volume %q: host path %q is not a directory (%v)", m.Name, m.HostPath, err)
		}
	}
	return ms
}

func (e *env) teardown(t *testing.T, uid string) {
	t.Helper()
	if err := e.v.Teardown(ctx(t), uid); err != nil {
		t.Fatalf("Teardown(%q): %v", uid, err)
	}
}

func pod(uid string, vs ...volumes.Volume) volumes.Pod {
	return volumes.Pod{Namespace: "default", Name: "pod-" + uid, UID: uid, Volumes: vs}
}

func emptyDir(name string) volumes.Volume {
	return volumes.Volume{Name: name, EmptyDir: &volumes.EmptyDir{}}
}

func files(name string, f volumes.Files) volumes.Volume {
	return volumes.Volume{Name: name, Files: &f}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test mounts tmpfs and needs root; CI is set, so it fails instead of skipping")
	}
	t.Skip("this test mounts tmpfs and needs root")
}

func wantWritable(t *testing.T, dir string) {
	t.Helper()
	f := filepath.Join(dir, "probe.txt")
	if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
		t.Fatalf("%s is not writable: %v", dir, err)
	}
}

func wantGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists after Teardown (stat: %v)", path, err)
	}
	if ms := mountsUnder(path); len(ms) > 0 {
		t.Fatalf("still mounted after Teardown: %q", ms)
	}
}

// wantFile checks a file's content and permission bits, following
// symlinks as a container would.
func wantFile(t *testing.T, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	if string(got) != content {
		t.Fatalf("%s contains %q, want %q", rel, got, content)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("stat %s: %v", rel, err)
	}
	if fi.Mode().Perm() != mode {
		t.Fatalf("%s has mode %v, want %v", rel, fi.Mode().Perm(), mode)
	}
}

func wantMissing(t *testing.T, dir, rel string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, rel)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists (stat: %v), want it absent", rel, err)
	}
}

func testInfo(t *testing.T, v volumes.Volumes) {
	info, err := v.Info(ctx(t))
	if err != nil {
		t.Fatalf("Info (before Configure): %v", err)
	}
	if info.Kind != base.KindVolumes {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, base.KindVolumes)
	}
	if info.Name == "" {
		t.Errorf("Info().Name is empty")
	}
	if info.APIVersion != volumes.APIVersion {
		t.Errorf("Info().APIVersion = %d, want %d", info.APIVersion, volumes.APIVersion)
	}
}

func testEmptyDirOnDisk(t *testing.T, e *env) {
	ms := e.prepare(t, pod("u1", emptyDir("scratch")))
	wantWritable(t, ms[0].HostPath)
	e.teardown(t, "u1")
	wantGone(t, ms[0].HostPath)
}

func testPrepareIdempotent(t *testing.T, e *env) {
	p := pod("u1", emptyDir("scratch"), files("config", volumes.Files{Data: map[string][]byte{"k": []byte("v")}}))
	first := e.prepare(t, p)
	if err := os.WriteFile(filepath.Join(first[0].HostPath, "kept"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := e.prepare(t, p)
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second Prepare returned %+v, first %+v: want the same", second, first)
	}
	wantFile(t, second[0].HostPath, "kept", "data", 0o644)
	wantFile(t, second[1].HostPath, "k", "v", 0o644)
}

func testMountsInOrder(t *testing.T, e *env) {
	a := e.prepare(t, pod("u1", emptyDir("z"), emptyDir("a"), emptyDir("m")))
	b := e.prepare(t, pod("u2", emptyDir("z")))
	seen := map[string]bool{}
	for _, m := range append(a, b...) {
		if seen[m.HostPath] {
			t.Fatalf("host path %s given to two volumes", m.HostPath)
		}
		seen[m.HostPath] = true
	}
	// Tearing one pod down leaves the other alone.
	e.teardown(t, "u1")
	wantGone(t, a[0].HostPath)
	wantWritable(t, b[0].HostPath)
}

func testInvalidItemPaths(t *testing.T, e *env) {
	data := map[string][]byte{"k": []byte("v")}
	for _, bad := range []string{"/etc/passwd", "../escape", "a/../../escape", "..", "a/..", "", "..data"} {
		p := pod("u1", files("config", volumes.Files{Data: data, Items: []volumes.KeyToPath{{Key: "k", Path: bad}}}))
		e.pods[p.UID] = true
		if _, err := e.v.Prepare(ctx(t), p); !errors.Is(err, volumes.ErrInvalidPath) {
			t.Errorf("item path %q: Prepare error = %v, want one wrapping volumes.ErrInvalidPath", bad, err)
		}
	}
	// Without items, keys become file names and are checked the same way.
	p := pod("u2", files("config", volumes.Files{Data: map[string][]byte{"../evil": []byte("x")}}))
	e.pods[p.UID] = true
	if _, err := e.v.Prepare(ctx(t), p); !errors.Is(err, volumes.ErrInvalidPath) {
		t.Errorf("key %q: Prepare error = %v, want one wrapping volumes.ErrInvalidPath", "../evil", err)
	}
	// Nothing of the rejected volumes was written.
	_ = filepath.WalkDir(filepath.Dir(e.dataDir), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (d.Name() == "escape" || d.Name() == "evil" || d.Name() == "passwd") {
			t.Errorf("a rejected item was written to %s", path)
		}
		return nil
	})
}

func testFilesItemsAndModes(t *testing.T, e *env) {
	f := volumes.Files{
		Data: map[string][]byte{"a": []byte("alpha"), "b": []byte("beta"), "c": []byte("gamma"), "d": []byte("#!/bin/sh\n")},
		Items: []volumes.KeyToPath{
			{Key: "a", Path: "dir/sub/a.txt", Mode: 0o600},
			{Key: "b", Path: "b.txt"},
			{Key: "d", Path: "bin/run.sh", Mode: 0o777}, // beyond the umask
		},
		DefaultMode: 0o640,
	}
	ms := e.prepare(t, pod("u1", files("config", f)))
	wantFile(t, ms[0].HostPath, "dir/sub/a.txt", "alpha", 0o600)
	wantFile(t, ms[0].HostPath, "b.txt", "beta", 0o640)
	wantFile(t, ms[0].HostPath, "bin/run.sh", "#!/bin/sh\n", 0o777)
	wantMissing(t, ms[0].HostPath, "c")
	e.teardown(t, "u1")
	wantGone(t, ms[0].HostPath)
}

func testFilesAllKeys(t *testing.T, e *env) {
	f := volumes.Files{Data: map[string][]byte{"app.properties": []byte("a=1\n"), "empty": {}}}
	ms := e.prepare(t, pod("u1", files("config", f)))
	// DefaultMode 0 is Kubernetes' default, 0644.
	wantFile(t, ms[0].HostPath, "app.properties", "a=1\n", 0o644)
	wantFile(t, ms[0].HostPath, "empty", "", 0o644)
}

func testFilesUpdate(t *testing.T, e *env) {
	v1 := volumes.Files{Data: map[string][]byte{"keep": []byte("1"), "change": []byte("old"), "drop": []byte("x")}}
	first := e.prepare(t, pod("u1", files("config", v1)))
	v2 := volumes.Files{Data: map[string][]byte{"keep": []byte("1"), "change": []byte("new"), "add": []byte("y")}}
	second := e.prepare(t, pod("u1", files("config", v2)))
	if first[0].HostPath != second[0].HostPath {
		t.Fatalf("the update moved the volume from %s to %s: containers would not see it", first[0].HostPath, second[0].HostPath)
	}
	dir := second[0].HostPath
	wantFile(t, dir, "keep", "1", 0o644)
	wantFile(t, dir, "change", "new", 0o644)
	wantFile(t, dir, "add", "y", 0o644)
	wantMissing(t, dir, "drop")
}

func testTeardownUnknown(t *testing.T, e *env) {
	e.teardown(t, "never-prepared")
	ms := e.prepare(t, pod("u1", emptyDir("scratch")))
	e.teardown(t, "u1")
	e.teardown(t, "u1")
	wantGone(t, ms[0].HostPath)
}

func testEmptyDirMemory(t *testing.T, e *env) {
	requireRoot(t)
	v := volumes.Volume{Name: "cache", EmptyDir: &volumes.EmptyDir{Medium: "Memory", SizeLimitBytes: 16 << 20}}
	ms := e.prepare(t, pod("u1", v))
	wantTmpfs(t, ms[0].HostPath)
	wantWritable(t, ms[0].HostPath)
	// Preparing again does not stack a second mount.
	e.prepare(t, pod("u1", v))
	if n := len(mountsUnder(ms[0].HostPath)); n != 1 {
		t.Fatalf("%d mounts at %s after a second Prepare, want 1", n, ms[0].HostPath)
	}
	e.teardown(t, "u1")
	wantGone(t, ms[0].HostPath)
}

func testSensitiveFiles(t *testing.T, e *env) {
	requireRoot(t)
	f := volumes.Files{
		Data:      map[string][]byte{"password": []byte("s3cret")},
		Items:     []volumes.KeyToPath{{Key: "password", Path: "db/password", Mode: 0o400}},
		Sensitive: true,
	}
	ms := e.prepare(t, pod("u1", files("creds", f)))
	wantTmpfs(t, ms[0].HostPath)
	wantFile(t, ms[0].HostPath, "db/password", "s3cret", 0o400)
	e.teardown(t, "u1")
	wantGone(t, ms[0].HostPath)
}
