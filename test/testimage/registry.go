package testimage

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Registry serves the images of an OCI layout tar (as Archive writes)
// over the read-only part of the OCI distribution API, enough for
// containerd to pull them: GET and HEAD of /v2/, of manifests by tag or
// digest, and of blobs. An image named "skiff.test/busybox:1" in the archive
// is served as repository "busybox", tag "1", on whatever host the server
// listens on; "docker.io/library/busybox:1.28" as both "library/busybox"
// and "busybox". Serve it with httptest on the loopback.
type Registry struct {
	blobs map[string][]byte     // digest -> content
	tags  map[string]descriptor // "repository:tag" -> manifest
}

// NewRegistry loads the archive at path.
func NewRegistry(path string) (*Registry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	defer f.Close()
	reg := &Registry{blobs: map[string][]byte{}, tags: map[string]descriptor{}}
	var idx []byte
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", path, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", path, err)
		}
		switch {
		case hdr.Name == "index.json":
			idx = data
		case strings.HasPrefix(hdr.Name, "blobs/sha256/"):
			reg.blobs["sha256:"+strings.TrimPrefix(hdr.Name, "blobs/sha256/")] = data
		}
	}
	if err := reg.addTags(idx); err != nil {
		return nil, fmt.Errorf("registry: %s: %w", path, err)
	}
	return reg, nil
}

func (reg *Registry) addTags(indexJSON []byte) error {
	var idx index
	if err := json.Unmarshal(indexJSON, &idx); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	for _, m := range idx.Manifests {
		ref := m.Annotations[annotationContainerdName]
		tag := tagOf(ref)
		if ref == "" || tag == "" {
			continue
		}
		name := strings.TrimSuffix(ref, ":"+tag)
		if i := strings.Index(name, "/"); i >= 0 && strings.ContainsAny(name[:i], ".:") {
			name = name[i+1:] // drop the registry host
		}
		reg.tags[name+":"+tag] = m
		if short, ok := strings.CutPrefix(name, "library/"); ok && strings.HasPrefix(ref, "docker.io/") {
			reg.tags[short+":"+tag] = m // docker.io/library/busybox is also busybox
		}
	}
	if len(reg.tags) == 0 {
		return errors.New("no named image in index.json")
	}
	return nil
}

// ServeHTTP implements the distribution API subset.
func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "read-only registry", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == "" || p == r.URL.Path {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		return
	}
	if name, ref, ok := strings.Cut(p, "/manifests/"); ok {
		reg.serveManifest(w, r, name, ref)
		return
	}
	if _, dgst, ok := strings.Cut(p, "/blobs/"); ok {
		reg.serveContent(w, r, dgst, "application/octet-stream")
		return
	}
	http.NotFound(w, r)
}

func (reg *Registry) serveManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	if strings.HasPrefix(ref, "sha256:") {
		reg.serveContent(w, r, ref, mediaTypeManifest)
		return
	}
	m, ok := reg.tags[name+":"+ref]
	if !ok {
		http.NotFound(w, r)
		return
	}
	reg.serveContent(w, r, m.Digest, m.MediaType)
}

func (reg *Registry) serveContent(w http.ResponseWriter, r *http.Request, dgst, mediaType string) {
	data, ok := reg.blobs[dgst]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", dgst)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method == http.MethodGet {
		w.Write(data)
	}
}
