// Package testimage builds small container images for tests, offline, from
// what is installed on the machine.
//
// Archive writes an OCI image layout tar (oci-layout, index.json,
// blobs/sha256/...) holding one or more images. Every image starts with the
// same uncompressed layer, a static busybox with the applet symlinks tests
// use (one blob however many images share it), and has a second layer with
// its own Files when it has any. Each index entry carries the image's
// reference twice: io.containerd.image.name, the normalized reference
// ("busybox:1.28" becomes "docker.io/library/busybox:1.28"), which
// containerd's importer names the image after and the runtime looks images
// up by; and org.opencontainers.image.ref.name, the tag, per the OCI spec.
// The output is byte-for-byte deterministic for a given busybox binary and
// input. BusyboxArchive writes the one plain busybox image most tests use;
// chapter.go has images that stand in for the book's.
package testimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/distribution/reference"
)

// BusyboxPath is the busybox binary copied into images. It must be
// statically linked (Debian: busybox-static).
var BusyboxPath = "/bin/busybox"

// Applets are the commands linked to busybox in /bin.
var Applets = []string{
	"sh", "sleep", "echo", "cat", "ls", "env", "pwd", "true", "false", "wget",
	"nc", "httpd", "id", "hostname", "ip", "ps", "mkdir", "rm", "touch", "date",
	"head", "tail", "seq", "yes", "kill", "grep", "printf",
	"cp", "sed", "cut", "tr", "wc", "expr", "awk", "sort", "uniq", "test", "[",
	"mv", "ln", "chmod", "nslookup", "timeout", "dd", "od", "tee", "mkfifo",
	"mktemp", "sha256sum", "basename", "dirname", "which", "xargs", "find",
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

// File is a file of an image, in the image's second layer.
type File struct {
	// Path is where the file is in the image ("/usr/local/bin/app"); a
	// trailing slash makes it a directory. Missing parent directories are
	// added with mode 0755.
	Path string
	// Mode is the permission bits; 0 means 0644 (0755 for a directory).
	Mode int64
	// Data is the content of a regular file.
	Data []byte
}

// Image describes one image of an archive.
type Image struct {
	// Ref names the image, as a pod's image: field would ("busybox:1.28",
	// "skiff.test/app:1"); it must not carry a digest.
	Ref string
	// Files go in a layer on top of the busybox one.
	Files []File
	// Entrypoint and Cmd are the config's; an image with neither runs sh.
	Entrypoint, Cmd []string
	// Env follows the PATH (an entry "PATH=..." replaces it).
	Env []string
	// ExposedPorts are "6379/tcp" or "6379" (meaning tcp).
	ExposedPorts []string
}

// BusyboxArchive writes an OCI image layout tar named busybox-oci.tar into
// dir, holding the plain busybox image (command sh) under ref, and returns
// its path.
func BusyboxArchive(dir, ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("busybox image: empty reference")
	}
	return Archive(dir, "busybox-oci.tar", Image{Ref: ref, Cmd: []string{"sh"}})
}

// Archive writes an OCI image layout tar named fileName into dir, with one
// index entry per image in the given order, and returns its path.
func Archive(dir, fileName string, images ...Image) (string, error) {
	if len(images) == 0 {
		return "", errors.New("image archive: no image")
	}
	if fileName == "" || fileName == "." || fileName == ".." || strings.ContainsRune(fileName, filepath.Separator) {
		return "", fmt.Errorf("image archive: file name %q is not a plain name", fileName)
	}
	bin, err := readStaticBinary(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("image archive: %w", err)
	}
	base, err := writeTar(rootfsEntries(bin))
	if err != nil {
		return "", fmt.Errorf("image archive: busybox layer: %w", err)
	}
	archive, err := layout(base, images)
	if err != nil {
		return "", fmt.Errorf("image archive: %w", err)
	}
	out := filepath.Join(dir, fileName)
	if err := os.WriteFile(out, archive, 0o644); err != nil {
		return "", fmt.Errorf("image archive: %w", err)
	}
	return out, nil
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

// filesEntries returns the tar entries of an image's own layer.
func filesEntries(files []File) ([]tarEntry, error) {
	var entries []tarEntry
	seen := map[string]bool{}
	for _, f := range files {
		dir := strings.HasSuffix(f.Path, "/")
		name := path.Clean("/" + f.Path)
		if f.Path == "" || name == "/" || strings.Contains("/"+f.Path+"/", "/../") {
			return nil, fmt.Errorf("file path %q", f.Path)
		}
		name = name[1:]
		for i := 0; i < len(name); i++ {
			if name[i] != '/' || seen[name[:i+1]] {
				continue
			}
			seen[name[:i+1]] = true
			entries = append(entries, tarEntry{name: name[:i+1], mode: 0o755, kind: tar.TypeDir})
		}
		if dir {
			name += "/"
		}
		if seen[name] || seen[name+"/"] || seen[strings.TrimSuffix(name, "/")] {
			return nil, fmt.Errorf("file path %q: given twice (or a directory given after a file in it)", f.Path)
		}
		seen[name] = true
		e := tarEntry{name: name, mode: f.Mode, kind: tar.TypeReg, data: f.Data}
		if dir {
			e.kind, e.data = tar.TypeDir, nil
			if len(f.Data) > 0 {
				return nil, fmt.Errorf("file path %q: a directory with data", f.Path)
			}
		}
		if e.mode == 0 {
			e.mode = 0o644
			if dir {
				e.mode = 0o755
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
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
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
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

// blobs collects content-addressed files in the order they are first
// added; adding the same content again only returns its descriptor.
type blobs struct {
	entries []tarEntry
	have    map[string]bool
}

func (b *blobs) add(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	if !b.have[hexSum] {
		if b.have == nil {
			b.have = map[string]bool{}
		}
		b.have[hexSum] = true
		b.entries = append(b.entries, tarEntry{name: "blobs/sha256/" + hexSum, mode: 0o644, kind: tar.TypeReg, data: data})
	}
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hexSum, Size: int64(len(data))}
}

func (b *blobs) addJSON(mediaType string, v any) (descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	return b.add(mediaType, data), nil
}

// normalizeRef returns the normalized name of a reference and its tag.
func normalizeRef(ref string) (name, tag string, err error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", "", fmt.Errorf("reference %q: %w", ref, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", "", fmt.Errorf("reference %q: a built image cannot be named by digest", ref)
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		return "", "", fmt.Errorf("reference %q has no tag", ref)
	}
	return named.String(), tagged.Tag(), nil
}

// imageConfigOf returns the config of img over the given layers.
func imageConfigOf(img Image, plat platform, layers []descriptor) imageConfig {
	env := []string{Path}
	for _, e := range img.Env {
		if strings.HasPrefix(e, "PATH=") {
			env[0] = e
		} else {
			env = append(env, e)
		}
	}
	cfg := configFields{Env: env, Entrypoint: img.Entrypoint, Cmd: img.Cmd}
	if len(img.Entrypoint) == 0 && len(img.Cmd) == 0 {
		cfg.Cmd = []string{"sh"}
	}
	for _, p := range img.ExposedPorts {
		if !strings.Contains(p, "/") {
			p += "/tcp"
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		cfg.ExposedPorts[p] = struct{}{}
	}
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.Digest // uncompressed layers: the diff ID is the digest
	}
	return imageConfig{
		Created:      epoch.Format(time.RFC3339),
		Architecture: plat.Architecture,
		OS:           plat.OS,
		Config:       cfg,
		RootFS:       rootFS{Type: "layers", DiffIDs: diffIDs},
	}
}

// layout assembles the OCI image layout tar of images over the busybox
// layer base.
func layout(base []byte, images []Image) ([]byte, error) {
	plat := platform{Architecture: goruntime.GOARCH, OS: "linux"}
	var b blobs
	baseDesc := b.add(mediaTypeLayer, base)
	names := map[string]bool{}
	var manifests []descriptor
	for _, img := range images {
		name, tag, err := normalizeRef(img.Ref)
		if err != nil {
			return nil, err
		}
		if names[name] {
			return nil, fmt.Errorf("image %s is given twice", name)
		}
		names[name] = true
		layers := []descriptor{baseDesc}
		if len(img.Files) > 0 {
			entries, err := filesEntries(img.Files)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", name, err)
			}
			layer, err := writeTar(entries)
			if err != nil {
				return nil, fmt.Errorf("image %s: layer: %w", name, err)
			}
			layers = append(layers, b.add(mediaTypeLayer, layer))
		}
		configDesc, err := b.addJSON(mediaTypeConfig, imageConfigOf(img, plat, layers))
		if err != nil {
			return nil, fmt.Errorf("image %s: config: %w", name, err)
		}
		manifestDesc, err := b.addJSON(mediaTypeManifest, manifest{
			SchemaVersion: 2, MediaType: mediaTypeManifest, Config: configDesc, Layers: layers,
		})
		if err != nil {
			return nil, fmt.Errorf("image %s: manifest: %w", name, err)
		}
		manifestDesc.Platform = &plat
		manifestDesc.Annotations = map[string]string{annotationContainerdName: name, annotationRefName: tag}
		manifests = append(manifests, manifestDesc)
	}
	idx, err := json.Marshal(index{SchemaVersion: 2, MediaType: mediaTypeIndex, Manifests: manifests})
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
