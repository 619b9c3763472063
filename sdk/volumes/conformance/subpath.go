package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Cases for hostPath volumes and subPath mounts.

func hostPath(name, path, typ string) volumes.Volume {
	return volumes.Volume{Name: name, HostPath: &volumes.HostPath{Path: path, Type: typ}}
}

func testHostPathTypes(t *testing.T, e *env) {
	host := t.TempDir()
	file := filepath.Join(host, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ms := e.prepare(t, pod("u1",
		hostPath("any", host, ""),
		hostPath("dir", host, "Directory"),
		hostPath("mkdir", filepath.Join(host, "made", "here"), "DirectoryOrCreate"),
	))
	for i, want := range []string{host, host, filepath.Join(host, "made", "here")} {
		if ms[i].HostPath != want {
			t.Fatalf("volume %q at %s, want the host path %s itself", ms[i].Name, ms[i].HostPath, want)
		}
	}
	p := pod("u2", hostPath("f", filepath.Join(host, "new-file"), "FileOrCreate"), hostPath("g", file, "File"))
	e.pods[p.UID] = true
	if _, err := e.v.Prepare(ctx(t), p); err != nil {
		t.Fatalf("FileOrCreate and File: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(host, "new-file")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("FileOrCreate did not make a file: %v", err)
	}
	for name, v := range map[string]volumes.Volume{
		"file as Directory": hostPath("v", file, "Directory"),
		"dir as File":       hostPath("v", host, "File"),
		"missing Directory": hostPath("v", filepath.Join(host, "missing"), "Directory"),
		"dir as Socket":     hostPath("v", host, "Socket"),
	} {
		p := pod("u3", v)
		e.pods[p.UID] = true
		if _, err := e.v.Prepare(ctx(t), p); !errors.Is(err, volumes.ErrHostPathType) {
			t.Errorf("%s: Prepare error = %v, want volumes.ErrHostPathType", name, err)
		}
	}
	for _, bad := range []string{"relative/path", "/a/../etc"} {
		p := pod("u4", hostPath("v", bad, ""))
		e.pods[p.UID] = true
		if _, err := e.v.Prepare(ctx(t), p); !errors.Is(err, volumes.ErrInvalidPath) {
			t.Errorf("host path %q: Prepare error = %v, want volumes.ErrInvalidPath", bad, err)
		}
	}
	// Teardown leaves the node's paths alone.
	e.teardown(t, "u1")
	e.teardown(t, "u2")
	for _, p := range []string{file, filepath.Join(host, "made", "here"), filepath.Join(host, "new-file")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("Teardown removed the host path %s: %v", p, err)
		}
	}
}

func subPath(uid string, m volumes.Mounted, path, container string, index int) volumes.SubPath {
	return volumes.SubPath{PodUID: uid, Volume: m.Name, HostPath: m.HostPath, Path: path, Container: container, Index: index}
}

func testInvalidSubPaths(t *testing.T, e *env) {
	ms := e.prepare(t, pod("u1", emptyDir("scratch")))
	for _, bad := range []string{"", "/etc", "../x", "a/../../b", ".."} {
		if _, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], bad, "c", 0)); !errors.Is(err, volumes.ErrInvalidPath) {
			t.Errorf("subPath %q: error = %v, want volumes.ErrInvalidPath", bad, err)
		}
	}
	// Another pod's volume is not this pod's to mount.
	other := e.prepare(t, pod("u2", emptyDir("scratch")))
	if _, err := e.v.PrepareSubPath(ctx(t), subPath("u1", other[0], "x", "c", 0)); !errors.Is(err, volumes.ErrInvalidPath) {
		t.Errorf("subPath of another pod's volume: error = %v, want volumes.ErrInvalidPath", err)
	}
	if ms := mountsUnder(e.dataDir); len(ms) > 0 {
		t.Fatalf("refused subPaths left mounts: %q", ms)
	}
}

func testSubPathEmptyDir(t *testing.T, e *env) {
	requireRoot(t)
	ms := e.prepare(t, pod("u1", emptyDir("scratch")))
	vol := ms[0].HostPath
	if err := os.MkdirAll(filepath.Join(vol, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vol, "sub", "a.txt"), []byte("alpha"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "sub", "app", 0))
	if err != nil {
		t.Fatalf("PrepareSubPath(sub): %v", err)
	}
	e.paths = append(e.paths, dir)
	wantFile(t, dir, "a.txt", "alpha", 0o644)
	again, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "sub", "app", 0))
	if err != nil || again != dir {
		t.Fatalf("second PrepareSubPath = %q, %v; want %q", again, err, dir)
	}
	if n := len(mountsUnder(dir)); n != 1 {
		t.Fatalf("%d mounts at %s after a second PrepareSubPath, want 1", n, dir)
	}
	// A missing subPath becomes a directory, writable like the volume.
	made, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "new/dir", "app", 1))
	if err != nil {
		t.Fatalf("PrepareSubPath(new/dir): %v", err)
	}
	if fi, err := os.Stat(filepath.Join(vol, "new", "dir")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 {
		t.Fatalf("new/dir in the volume: %v (%v), want a directory with the volume's mode 0777", fi, err)
	}
	wantWritable(t, made)
	if _, err := os.Stat(filepath.Join(vol, "new", "dir", "probe.txt")); err != nil {
		t.Fatalf("a write through the subPath mount is not in the volume: %v", err)
	}
	// A file.
	f, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "sub/a.txt", "app", 2))
	if err != nil {
		t.Fatalf("PrepareSubPath(sub/a.txt): %v", err)
	}
	if got, err := os.ReadFile(f); err != nil || string(got) != "alpha" {
		t.Fatalf("file subPath reads %q, %v", got, err)
	}
	e.teardown(t, "u1")
	wantGone(t, vol)
	for _, p := range []string{dir, made, f} {
		wantGone(t, p)
	}
}

func testSubPathFiles(t *testing.T, e *env) {
	requireRoot(t)
	v1 := files("config", volumes.Files{Data: map[string][]byte{"nginx.conf": []byte("v1")}})
	ms := e.prepare(t, pod("u1", v1))
	f, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "nginx.conf", "nginx", 0))
	if err != nil {
		t.Fatalf("PrepareSubPath(nginx.conf) through the volume's symlinks: %v", err)
	}
	e.paths = append(e.paths, f)
	if got, err := os.ReadFile(f); err != nil || string(got) != "v1" {
		t.Fatalf("subPath reads %q, %v", got, err)
	}
	// The volume follows an update; the subPath mount does not, as in
	// Kubernetes.
	e.prepare(t, pod("u1", files("config", volumes.Files{Data: map[string][]byte{"nginx.conf": []byte("v2")}})))
	wantFile(t, ms[0].HostPath, "nginx.conf", "v2", 0o644)
	if got, err := os.ReadFile(f); err != nil || string(got) != "v1" {
		t.Fatalf("subPath after an update reads %q, %v; want the old %q", got, err, "v1")
	}
	if _, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], "missing", "nginx", 1)); !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("missing key as subPath: %v, want base.ErrNotFound", err)
	}
	e.teardown(t, "u1")
	wantGone(t, f)
}

func testSubPathSymlinks(t *testing.T, e *env) {
	requireRoot(t)
	ms := e.prepare(t, pod("u1", emptyDir("scratch")))
	vol := ms[0].HostPath
	// What a container could plant in its emptyDir.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(vol, "sub", "deep"), 0o755))
	must(os.WriteFile(filepath.Join(vol, "sub", "ok.txt"), []byte("inside"), 0o644))
	must(os.Symlink(outside, filepath.Join(vol, "abs")))
	must(os.Symlink("../../../../../../../../"+outside, filepath.Join(vol, "up")))
	must(os.Symlink("deep/../../..", filepath.Join(vol, "sub", "sneaky")))
	must(os.Symlink("loop", filepath.Join(vol, "loop")))
	must(os.Symlink("sub", filepath.Join(vol, "in")))
	must(os.Symlink("../ok.txt", filepath.Join(vol, "sub", "deep", "back")))
	for i, bad := range []string{"abs", "abs/secret", "up", "up/secret", "sub/sneaky", "sub/sneaky/x", "loop"} {
		if p, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], bad, "c", i)); !errors.Is(err, volumes.ErrInvalidPath) {
			t.Errorf("subPath %q: PrepareSubPath = %q, %v; want volumes.ErrInvalidPath", bad, p, err)
		}
	}
	if ms := mountsUnder(e.dataDir); len(ms) > 0 {
		t.Fatalf("refused subPaths left mounts: %q", ms)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
		t.Fatal("a directory was made outside the volume")
	}
	// Symlinks that stay inside are followed.
	for i, tc := range []struct{ path, file string }{{"in", "ok.txt"}, {"sub/deep/back", ""}} {
		p, err := e.v.PrepareSubPath(ctx(t), subPath("u1", ms[0], tc.path, "c", 100+i))
		if err != nil {
			t.Fatalf("subPath %q: %v", tc.path, err)
		}
		e.paths = append(e.paths, p)
		if got, err := os.ReadFile(filepath.Join(p, tc.file)); err != nil || string(got) != "inside" {
			t.Fatalf("subPath %q reads %q, %v", tc.path, got, err)
		}
	}
	e.teardown(t, "u1")
	if ms := mountsUnder(e.dataDir); len(ms) > 0 {
		t.Fatalf("after Teardown still mounted: %q", ms)
	}
}

func testFilesKeep(t *testing.T, e *env) {
	// Never written: nothing to keep.
	p := pod("u1", files("config", volumes.Files{Keep: true}))
	e.pods[p.UID] = true
	if _, err := e.v.Prepare(ctx(t), p); !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("Keep on a new volume: %v, want base.ErrNotFound", err)
	}
	ms := e.prepare(t, pod("u1", files("config", volumes.Files{Data: map[string][]byte{"k": []byte("v1")}})))
	again := e.prepare(t, pod("u1", files("config", volumes.Files{Keep: true, Data: map[string][]byte{"other": nil}})))
	if again[0].HostPath != ms[0].HostPath {
		t.Fatalf("Keep moved the volume from %s to %s", ms[0].HostPath, again[0].HostPath)
	}
	wantFile(t, ms[0].HostPath, "k", "v1", 0o644)
	wantMissing(t, ms[0].HostPath, "other")
}
