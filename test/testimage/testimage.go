// Package testimage builds small container images for tests, offline, from
// what is installed on the machine.
//
// BusyboxArchive writes an OCI image layout tar (oci-layout, index.json,
// blobs/sha256/...) holding one image whose single uncompressed layer is a
// static busybox with the applet symlinks tests use. The index entry carries
// the reference twice: io.containerd.image.name (the full reference, which
// containerd's importer names the image after) and
// org.opencontainers.image.ref.name (the tag, per the OCI spec). The output is
// byte-for-byte deterministic for a given busybox binary and reference.
package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"
)

// BusyboxPath is the busybox binary copied into images. It must be
// statically linked (Debian: busybox-static).
var BusyboxPath = "/bin/busybox"

// Applets are the commands linked to busybox in /bin.
var Applets = []string{
	"sh", "sleep", "echo", "cat", "ls", "env", "pwd", "true", "false", "wget",
	"nc", "httpd", "id", "hostname", "ip", "ps", "mkdir", "rm", "touch", "date",
	"head", "tail", "seq", "yes", "kill", "grep", "printf",
}

// Path is the PATH in the image's config.
const Path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is every file's mtime and the image's creation time.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"

	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// BusyboxArchive writes an OCI image layout tar for ref into dir and
// returns its path.
func BusyboxArchive(dir, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("busybox image: empty reference")
	}
	bin, err := readStaticBinary(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("busybox image %q: %w", ref, err)
	}
	layer, err := rootfsLayer(bin)
	if err != nil {
		return "", fmt.Errorf("busybox image %q: layer: %w", ref, err)
	}
	archive, err := layout(ref, layer)
	if err != nil {
		return "", fmt.Errorf("busybox image %q: %w", ref, err)
	}
	path := filepath.Join(dir, "busybox-oci.tar")
	if err := os.WriteFile(path, archive, 0o644); err != nil {
		return "", fmt.Errorf("busybox image %q: %w", ref, err)
	}
	return path, nil
}

// readStaticBinary reads an executable and refuses a dynamically linked
// one, which would not run in an image without its libraries.
func readStaticBinary(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (install busybox-static)", err)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF binary: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked; a static busybox is needed (Debian: busybox-static)", path)
		}
	}
	return data, nil
}

type tarEntry struct {
	name string
	mode int64
	kind byte
	link string
	data []byte
}

const passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
const group = "root:x:0:\nnobody:x:65534:\n"

func rootfsEntries(busybox []byte) []tarEntry {
	entries := []tarEntry{
		{name: "bin/", mode: 0o755, kind: tar.TypeDir},
		{name: "bin/busybox", mode: 0o755, kind: tar.TypeReg, data: busybox},
	}
	for _, a := range Applets {
		entries = append(entries, tarEntry{name: "bin/" + a, mode: 0o777, kind: tar.TypeSymlink, link: "busybox"})
	}
	return append(entries,
		tarEntry{name: "etc/", mode: 0o755, kind: tar.TypeDir},
		tarEntry{name: "etc/group", mode: 0o644, kind: tar.TypeReg, data: []byte(group)},
		tarEntry{name: "etc/passwd", mode: 0o644, kind: tar.TypeReg, data: []byte(passwd)},
		tarEntry{name: "root/", mode: 0o700, kind: tar.TypeDir},
		tarEntry{name: "tmp/", mode: 0o1777, kind: tar.TypeDir},
	)
}

func rootfsLayer(busybox []byte) ([]byte, error) {
	return writeTar(rootfsEntries(busybox))
}

func writeTar(entries []tarEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Mode:     e.mode,
			Typeflag: e.kind,
			Linkname: e.link,
			Size:     int64(len(e.data)),
			ModTime:  epoch,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type imageConfig struct {
	Created      string       `json:"created"`
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Config       configFields `json:"config"`
	RootFS       rootFS       `json:"rootfs"`
}

type configFields struct {
	Env []string `json:"Env"`
	Cmd []string `json:"Cmd"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// blobs collects content-addressed files in the order they are added.
type blobs struct {
	entries []tarEntry
}

func (b *blobs) add(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	b.entries = append(b.entries, tarEntry{name: "blobs/sha256/" + hexSum, mode: 0o644, kind: tar.TypeReg, data: data})
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hexSum, Size: int64(len(data))}
}

func (b *blobs) addJSON(mediaType string, v any) (descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	return b.add(mediaType, data), nil
}

// layout assembles the OCI image layout tar around one layer.
func layout(ref string, layer []byte) ([]byte, error) {
	plat := platform{Architecture: goruntime.GOARCH, OS: "linux"}
	var b blobs
	layerDesc := b.add(mediaTypeLayer, layer)
	configDesc, err := b.addJSON(mediaTypeConfig, imageConfig{
		Created:      epoch.Format(time.RFC3339),
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Config:       configFields{Env: []string{Path}, Cmd: []string{"sh"}},
		RootFS:       rootFS{Type: "layers", DiffIDs: []string{layerDesc.Digest}},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	manifestDesc, err := b.addJSON(mediaTypeManifest, manifest{
		SchemaVersion: 2, MediaType: mediaTypeManifest, Config: configDesc, Layers: []descriptor{layerDesc},
	})
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	manifestDesc.Platform = &plat
	manifestDesc.Annotations = map[string]string{annotationContainerdName: ref}
	if tag := tagOf(ref); tag != "" {
		manifestDesc.Annotations[annotationRefName] = tag
	}
	idx, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: []descriptor{manifestDesc}})
	if err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	entries := []tarEntry{
		{name: "oci-layout", mode: 0o644, kind: tar.TypeReg, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o644, kind: tar.TypeReg, data: idx},
		{name: "blobs/", mode: 0o755, kind: tar.TypeDir},
		{name: "blobs/sha256/", mode: 0o755, kind: tar.TypeDir},
	}
	return writeTar(append(entries, b.entries...))
}

// tagOf returns the tag of a reference ("" when it has none or is by
// digest).
func tagOf(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return ""
}
