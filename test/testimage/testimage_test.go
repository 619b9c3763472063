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
	"slices"
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
