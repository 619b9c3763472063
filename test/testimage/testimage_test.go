package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(BusyboxPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (install busybox-static): %v", BusyboxPath, err)
		}
		t.Skipf("%s is missing (install busybox-static)", BusyboxPath)
	}
}

// readTar returns each regular file and symlink of a tar by name.
func readTar(t *testing.T, data []byte) (files map[string][]byte, links map[string]string) {
	t.Helper()
	files, links = map[string][]byte{}, map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, links
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = b
		case tar.TypeSymlink:
			links[hdr.Name] = hdr.Linkname
		}
		if !hdr.ModTime.Equal(epoch) {
			t.Errorf("%s has mtime %v, want the fixed %v", hdr.Name, hdr.ModTime, epoch)
		}
	}
}

func blob(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+d.Digest[len("sha256:"):]]
	if !ok {
		t.Fatalf("blob %s is missing", d.Digest)
	}
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s does not match its descriptor (size %d)", d.Digest, len(data))
	}
	return data
}

func TestBusyboxArchive(t *testing.T) {
	requireBusybox(t)
	const ref = "skiff.test/busybox:1"
	path, err := BusyboxArchive(t.TempDir(), ref)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, data)
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", files["oci-layout"])
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(idx.Manifests))
	}
	md := idx.Manifests[0]
	if md.Annotations[annotationContainerdName] != ref || md.Annotations[annotationRefName] != "1" {
		t.Errorf("manifest annotations = %v, want the reference and its tag", md.Annotations)
	}
	var m manifest
	if err := json.Unmarshal(blob(t, files, md), &m); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(blob(t, files, m.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"sh"}) || !slices.Equal(cfg.Config.Env, []string{Path}) {
		t.Errorf("config = %+v, want Cmd [sh] and the PATH", cfg.Config)
	}
	if len(m.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != m.Layers[0].Digest {
		t.Fatalf("layers %v and diff ids %v do not match", m.Layers, cfg.RootFS.DiffIDs)
	}

	layerFiles, links := readTar(t, blob(t, files, m.Layers[0]))
	want, _ := os.ReadFile(BusyboxPath)
	if !bytes.Equal(layerFiles["bin/busybox"], want) {
		t.Error("bin/busybox in the layer differs from " + BusyboxPath)
	}
	for _, a := range []string{"sh", "sleep", "printf", "nc"} {
		if links["bin/"+a] != "busybox" {
			t.Errorf("bin/%s links to %q, want busybox", a, links["bin/"+a])
		}
	}
	if !bytes.Contains(layerFiles["etc/passwd"], []byte("nobody:x:65534:65534:")) {
		t.Errorf("etc/passwd = %q, want root and nobody", layerFiles["etc/passwd"])
	}
}

func TestBusyboxArchiveIsDeterministic(t *testing.T) {
	requireBusybox(t)
	a, err := BusyboxArchive(t.TempDir(), "skiff.test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := BusyboxArchive(t.TempDir(), "skiff.test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Fatal("two builds of the same image differ")
	}
}

func TestDynamicBinaryIsRefused(t *testing.T) {
	if _, err := readStaticBinary("/bin/ls"); err == nil {
		t.Fatal("a dynamically linked /bin/ls was accepted as busybox")
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{
		"skiff.test/busybox:1":        "1",
		"localhost:5000/busybox":      "",
		"localhost:5000/a/b:v2":       "v2",
		"busybox@sha256:0123456789ab": "",
	} {
		if got := tagOf(ref); got != want {
			t.Errorf("tagOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

// tarNames returns the names of a tar's entries in order.
func tarNames(t *testing.T, data []byte) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		names = append(names, hdr.Name)
	}
}

// tarHeaders returns the headers of a tar by name.
func tarHeaders(t *testing.T, data []byte) map[string]*tar.Header {
	t.Helper()
	hdrs := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		hdrs[hdr.Name] = hdr
	}
}

// archivedImage is one image of an archive as the tests read it.
type archivedImage struct {
	desc     descriptor
	manifest manifest
	config   imageConfig
}

func readArchive(t *testing.T, path string) (files map[string][]byte, images []archivedImage) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, data)
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s is twice in the archive", n)
		}
		seen[n] = true
	}
	files, _ = readTar(t, data)
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	for _, md := range idx.Manifests {
		img := archivedImage{desc: md}
		if err := json.Unmarshal(blob(t, files, md), &img.manifest); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(blob(t, files, img.manifest.Config), &img.config); err != nil {
			t.Fatal(err)
		}
		if len(img.manifest.Layers) != len(img.config.RootFS.DiffIDs) {
			t.Fatalf("%v: layers %v and diff ids %v do not match", md.Annotations, img.manifest.Layers, img.config.RootFS.DiffIDs)
		}
		for i, l := range img.manifest.Layers {
			blob(t, files, l)
			if img.config.RootFS.DiffIDs[i] != l.Digest {
				t.Errorf("%v: layer %d is %s, diff id %s", md.Annotations, i, l.Digest, img.config.RootFS.DiffIDs[i])
			}
		}
		images = append(images, img)
	}
	return files, images
}

func TestArchiveOfSeveralImages(t *testing.T) {
	requireBusybox(t)
	path, err := AmbassadorArchive(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != AmbassadorArchiveName {
		t.Errorf("archive is %s, want %s", path, AmbassadorArchiveName)
	}
	files, images := readArchive(t, path)
	want := []struct {
		name, tag string
		layers    int
		cmd       []string
		ports     []string
	}{
		{"docker.io/library/busybox:1.28", "1.28", 1, []string{"sh"}, nil},
		{"skiff.test/redis:1.0", "1.0", 2, []string{"/usr/local/bin/redis-server"}, []string{"6379/tcp"}},
		{"skiff.test/nginx:1.0", "1.0", 2, []string{"/usr/local/bin/nginx", "-g", "daemon off;"}, nil},
		{"skiff.test/flask-redis:1.0", "1.0", 2, []string{"/usr/local/bin/flask-app"}, []string{"5000/tcp"}},
	}
	if len(images) != len(want) {
		t.Fatalf("index has %d images, want %d", len(images), len(want))
	}
	plain, err := BusyboxArchive(t.TempDir(), "skiff.test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	_, plainImages := readArchive(t, plain)
	base := plainImages[0].manifest.Layers[0]
	for i, w := range want {
		img := images[i]
		if img.desc.Annotations[annotationContainerdName] != w.name || img.desc.Annotations[annotationRefName] != w.tag {
			t.Errorf("image %d annotations = %v, want name %s and tag %s", i, img.desc.Annotations, w.name, w.tag)
		}
		if img.desc.Platform == nil || img.desc.Platform.OS != "linux" {
			t.Errorf("%s: platform %v", w.name, img.desc.Platform)
		}
		if len(img.manifest.Layers) != w.layers {
			t.Fatalf("%s has %d layers, want %d", w.name, len(img.manifest.Layers), w.layers)
		}
		if l := img.manifest.Layers[0]; l.Digest != base.Digest || l.Size != base.Size || l.MediaType != mediaTypeLayer {
			t.Errorf("%s: first layer %s, want the busybox layer %s", w.name, img.manifest.Layers[0].Digest, base.Digest)
		}
		if !slices.Equal(img.config.Config.Cmd, w.cmd) || len(img.config.Config.Entrypoint) != 0 {
			t.Errorf("%s: entrypoint %q cmd %q, want cmd %q", w.name, img.config.Config.Entrypoint, img.config.Config.Cmd, w.cmd)
		}
		var ports []string
		for p := range img.config.Config.ExposedPorts {
			ports = append(ports, p)
		}
		if !slices.Equal(ports, w.ports) {
			t.Errorf("%s: exposed ports %v, want %v", w.name, ports, w.ports)
		}
		if !slices.Equal(img.config.Config.Env, []string{Path}) {
			t.Errorf("%s: env %v", w.name, img.config.Config.Env)
		}
	}

	// The stand-ins' own layers hold their scripts, executable.
	for i, scripts := range map[int][]string{1: {"redis-server", "redis-conn"}, 2: {"nginx"}, 3: {"flask-app", "flask-request"}} {
		layer := blob(t, files, images[i].manifest.Layers[1])
		layerFiles, _ := readTar(t, layer)
		hdrs := tarHeaders(t, layer)
		for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
			if h := hdrs[d]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o755 {
				t.Errorf("%s: directory %s = %+v", want[i].name, d, h)
			}
		}
		for _, s := range scripts {
			h := hdrs["usr/local/bin/"+s]
			if h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
				t.Fatalf("%s: usr/local/bin/%s = %+v, want an executable file", want[i].name, s, h)
			}
			src, _ := standins.ReadFile("standin/" + s)
			if !bytes.Equal(layerFiles["usr/local/bin/"+s], src) || !bytes.HasPrefix(src, []byte("#!/bin/sh\n")) {
				t.Errorf("%s: usr/local/bin/%s is not the /bin/sh script standin/%s", want[i].name, s, s)
			}
		}
	}
	if h := tarHeaders(t, blob(t, files, images[1].manifest.Layers[1]))["data/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("redis stand-in has no /data directory: %+v", h)
	}

	again, err := AmbassadorArchive(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same images differ")
	}
}

func TestArchiveNormalizesReferences(t *testing.T) {
	requireBusybox(t)
	for ref, want := range map[string][2]string{
		"busybox":                        {"docker.io/library/busybox:latest", "latest"},
		"busybox:1.28":                   {"docker.io/library/busybox:1.28", "1.28"},
		"library/busybox:1.28":           {"docker.io/library/busybox:1.28", "1.28"},
		"docker.io/library/busybox:1.28": {"docker.io/library/busybox:1.28", "1.28"},
		"someone/app:v1":                 {"docker.io/someone/app:v1", "v1"},
		"skiff.test/busybox:1":           {"skiff.test/busybox:1", "1"},
		"localhost:5000/a/b:v2":          {"localhost:5000/a/b:v2", "v2"},
	} {
		path, err := BusyboxArchive(t.TempDir(), ref)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		_, images := readArchive(t, path)
		if got := images[0].desc.Annotations; got[annotationContainerdName] != want[0] || got[annotationRefName] != want[1] {
			t.Errorf("%s: annotations %v, want name %s and tag %s", ref, got, want[0], want[1])
		}
	}
}

func TestArchiveRefusesBadInput(t *testing.T) {
	requireBusybox(t)
	dir := t.TempDir()
	for name, images := range map[string][]Image{
		"no image":         nil,
		"empty reference":  {{Ref: ""}},
		"bad reference":    {{Ref: "Busybox:1"}},
		"digest reference": {{Ref: "busybox@sha256:" + strings.Repeat("a", 64)}},
		"same image twice": {{Ref: "busybox:1.28"}, {Ref: "docker.io/library/busybox:1.28"}},
		"empty file path":  {{Ref: "a:1", Files: []File{{Path: ""}}}},
		"root file path":   {{Ref: "a:1", Files: []File{{Path: "/"}}}},
		"dot-dot path":     {{Ref: "a:1", Files: []File{{Path: "/usr/../../etc/x"}}}},
		"file twice":       {{Ref: "a:1", Files: []File{{Path: "/x"}, {Path: "x"}}}},
		"directory data":   {{Ref: "a:1", Files: []File{{Path: "/d/", Data: []byte("x")}}}},
	} {
		if path, err := Archive(dir, "bad.tar", images...); err == nil {
			t.Errorf("%s: Archive wrote %s, want an error", name, path)
		}
	}
	if _, err := Archive(dir, "sub/x.tar", Image{Ref: "a:1"}); err == nil {
		t.Error("a file name with a directory was accepted")
	}
	if _, err := BusyboxArchive(dir, ""); err == nil {
		t.Error("BusyboxArchive accepted an empty reference")
	}
}

func TestArchiveFileModesAndEnv(t *testing.T) {
	requireBusybox(t)
	path, err := Archive(t.TempDir(), "x.tar", Image{
		Ref:          "skiff.test/x:1",
		Files:        []File{{Path: "/etc/app/", Mode: 0o700}, {Path: "/etc/app/conf", Data: []byte("a=1\n")}, {Path: "opt/run", Mode: 0o755, Data: []byte("#!/bin/sh\n")}},
		Entrypoint:   []string{"/opt/run"},
		Env:          []string{"A=1", "PATH=/opt:/bin"},
		ExposedPorts: []string{"53/udp", "80"},
	})
	if err != nil {
		t.Fatal(err)
	}
	files, images := readArchive(t, path)
	cfg := images[0].config.Config
	if !slices.Equal(cfg.Entrypoint, []string{"/opt/run"}) || len(cfg.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q", cfg.Entrypoint, cfg.Cmd)
	}
	if !slices.Equal(cfg.Env, []string{"PATH=/opt:/bin", "A=1"}) {
		t.Errorf("env %q", cfg.Env)
	}
	if _, ok := cfg.ExposedPorts["53/udp"]; !ok || len(cfg.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	layer := blob(t, files, images[0].manifest.Layers[1])
	if got, want := tarNames(t, layer), []string{"etc/", "etc/app/", "etc/app/conf", "opt/", "opt/run"}; !slices.Equal(got, want) {
		t.Errorf("layer entries %q, want %q", got, want)
	}
	hdrs := tarHeaders(t, layer)
	for name, mode := range map[string]int64{"etc/": 0o755, "etc/app/": 0o700, "etc/app/conf": 0o644, "opt/run": 0o755} {
		if hdrs[name].Mode != mode {
			t.Errorf("%s has mode %o, want %o", name, hdrs[name].Mode, mode)
		}
	}
}

func TestAppletsAreBusyboxApplets(t *testing.T) {
	requireBusybox(t)
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Fields(string(out))
	for _, a := range Applets {
		if !slices.Contains(have, a) {
			t.Errorf("Applets has %q, which %s does not provide", a, BusyboxPath)
		}
	}
	// The chapter's init container runs sh -c 'cp -L ... && sed -i ...'; the
	// stand-in scripts run standinCommands.
	for _, c := range append([]string{"sh", "cp", "sed"}, standinCommands...) {
		if !slices.Contains(Applets, c) {
			t.Errorf("%q is not linked in the images' /bin", c)
		}
	}
}
