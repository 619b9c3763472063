package rawexec

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// HostImage is the only image PullImage gives: a stand-in with no command
// of its own, for pods that run a host command.
const HostImage = "rawexec/host"

// defaultPath is the PATH of a container whose image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// image is one entry of the catalogue: a name and what its config says.
type image struct {
	Ref        string   `json:"ref"`
	ID         string   `json:"id"`
	Size       int64    `json:"size"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
}

func (i image) public() runtime.Image { return runtime.Image{Ref: i.Ref, ID: i.ID, Size: i.Size} }

// normalize names an image as containerd does: "nginx" is
// "docker.io/library/nginx:latest".
func normalize(ref string) string {
	name, digest, hasDigest := strings.Cut(ref, "@")
	tag := ""
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	first, _, hasSlash := strings.Cut(name, "/")
	if !hasSlash || (!strings.ContainsAny(first, ".:") && first != "localhost") {
		if !hasSlash {
			name = "library/" + name
		}
		name = "docker.io/" + name
	}
	switch {
	case hasDigest && tag != "":
		return name + ":" + tag + "@" + digest
	case hasDigest:
		return name + "@" + digest
	case tag == "":
		tag = "latest"
	}
	return name + ":" + tag
}

func (r *Runtime) catalogue() (map[string]image, string, error) {
	dir, err := r.dir()
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "images.json")
	images := map[string]image{}
	if err := readJSON(path, &images); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", fmt.Errorf("rawexec: image catalogue: %w", err)
	}
	return images, path, nil
}

// record adds images to the catalogue.
func (r *Runtime) record(imgs []image) error {
	images, path, err := r.catalogue()
	if err != nil {
		return err
	}
	for _, img := range imgs {
		images[img.Ref] = img
	}
	return writeJSON(path, images)
}

func (r *Runtime) lookupImage(ref string) (image, error) {
	images, _, err := r.catalogue()
	if err != nil {
		return image{}, err
	}
	img, ok := images[normalize(ref)]
	if !ok {
		return image{}, fmt.Errorf("image %q: %w", ref, base.ErrNotFound)
	}
	return img, nil
}

// PullImage implements runtime.Runtime: only HostImage can be pulled.
func (r *Runtime) PullImage(_ context.Context, ref string, _ runtime.PullOptions) (runtime.Image, error) {
	if normalize(ref) != normalize(HostImage) {
		return runtime.Image{}, fmt.Errorf("pull %q: rawexec runs host processes and pulls nothing but %q (import an archive to name other images): %w", ref, HostImage, runtime.ErrImagePull)
	}
	sum := sha256.Sum256([]byte(normalize(HostImage)))
	img := image{Ref: normalize(HostImage), ID: "sha256:" + hex.EncodeToString(sum[:]), Size: 1, Env: []string{defaultPath}}
	r.state.Lock()
	defer r.state.Unlock()
	if err := r.record([]image{img}); err != nil {
		return runtime.Image{}, err
	}
	return img.public(), nil
}

// ImageStatus implements runtime.Runtime.
func (r *Runtime) ImageStatus(_ context.Context, ref string) (runtime.Image, error) {
	img, err := r.lookupImage(ref)
	if err != nil {
		return runtime.Image{}, err
	}
	return img.public(), nil
}

// ListImages implements runtime.Runtime.
func (r *Runtime) ListImages(context.Context) ([]runtime.Image, error) {
	images, _, err := r.catalogue()
	if err != nil {
		return nil, err
	}
	out := make([]runtime.Image, 0, len(images))
	for _, img := range images {
		out = append(out, img.public())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// maxKept is the largest archive entry kept in memory while importing:
// index, manifests and configs are small; layers are only counted.
const maxKept = 4 << 20

// ImportImages implements runtime.Runtime: it records the names and configs
// of the images in an OCI layout or docker-archive tar. Layers are not
// unpacked.
func (r *Runtime) ImportImages(_ context.Context, archive io.Reader) ([]runtime.Image, error) {
	if _, err := r.dir(); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	sizes := map[string]int64{}
	tr := tar.NewReader(archive)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import: %v: %w", err, runtime.ErrInvalidArchive)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		sizes[name] = hdr.Size
		if hdr.Size <= maxKept {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("import: %s: %v: %w", name, err, runtime.ErrInvalidArchive)
			}
			files[name] = data
		}
	}
	var imgs []image
	var err error
	switch {
	case files["index.json"] != nil:
		imgs, err = ociImages(files)
	case files["manifest.json"] != nil:
		imgs, err = dockerImages(files, sizes)
	default:
		err = errors.New("neither an OCI layout (index.json) nor a docker archive (manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("import: %v: %w", err, runtime.ErrInvalidArchive)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("import: the archive names no image: %w", runtime.ErrInvalidArchive)
	}
	r.state.Lock()
	defer r.state.Unlock()
	if err := r.record(imgs); err != nil {
		return nil, err
	}
	out := make([]runtime.Image, len(imgs))
	for i, img := range imgs {
		out[i] = img.public()
	}
	return out, nil
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

type ociIndex struct {
	Manifests []descriptor `json:"manifests"`
}

type ociManifest struct {
	Config descriptor   `json:"config"`
	Layers []descriptor `json:"layers"`
}

type imageConfig struct {
	Config struct {
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
}

func blob(files map[string][]byte, digest string) ([]byte, error) {
	algo, hexDigest, ok := strings.Cut(digest, ":")
	if !ok {
		return nil, fmt.Errorf("digest %q", digest)
	}
	data, ok := files["blobs/"+algo+"/"+hexDigest]
	if !ok {
		return nil, fmt.Errorf("blob %s is missing", digest)
	}
	return data, nil
}

func ociImages(files map[string][]byte) ([]image, error) {
	var idx ociIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []image
	for _, d := range idx.Manifests {
		ref := d.Annotations["io.containerd.image.name"]
		if ref == "" {
			ref = d.Annotations["org.opencontainers.image.ref.name"]
		}
		if ref == "" || !strings.ContainsAny(ref, "/:") {
			continue // a bare tag names no repository
		}
		data, err := blob(files, d.Digest)
		if err != nil {
			return nil, err
		}
		if strings.Contains(d.MediaType, "index") || strings.Contains(d.MediaType, "manifest.list") {
			// A multi-platform image: take its first manifest.
			var nested ociIndex
			if err := json.Unmarshal(data, &nested); err != nil || len(nested.Manifests) == 0 {
				return nil, fmt.Errorf("image index %s: %v", d.Digest, err)
			}
			if data, err = blob(files, nested.Manifests[0].Digest); err != nil {
				return nil, err
			}
		}
		var m ociManifest
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		cfg, err := blob(files, m.Config.Digest)
		if err != nil {
			return nil, err
		}
		var size int64
		for _, l := range m.Layers {
			size += l.Size
		}
		img, err := fromConfig(ref, cfg, size)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func dockerImages(files map[string][]byte, sizes map[string]int64) ([]image, error) {
	var entries []struct {
		Config   string   `json:"Config"`
		RepoTags []string `json:"RepoTags"`
		Layers   []string `json:"Layers"`
	}
	if err := json.Unmarshal(files["manifest.json"], &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []image
	for _, e := range entries {
		cfg, ok := files[path.Clean(e.Config)]
		if !ok {
			return nil, fmt.Errorf("config %s is missing", e.Config)
		}
		var size int64
		for _, l := range e.Layers {
			size += sizes[path.Clean(l)]
		}
		for _, tag := range e.RepoTags {
			img, err := fromConfig(tag, cfg, size)
			if err != nil {
				return nil, err
			}
			out = append(out, img)
		}
	}
	return out, nil
}

func fromConfig(ref string, cfg []byte, size int64) (image, error) {
	var c imageConfig
	if err := json.Unmarshal(cfg, &c); err != nil {
		return image{}, fmt.Errorf("image %s: config: %w", ref, err)
	}
	sum := sha256.Sum256(cfg)
	if size == 0 {
		size = int64(len(cfg))
	}
	return image{
		Ref: normalize(ref), ID: "sha256:" + hex.EncodeToString(sum[:]), Size: size,
		Entrypoint: c.Config.Entrypoint, Cmd: c.Config.Cmd, Env: c.Config.Env, WorkingDir: c.Config.WorkingDir,
	}, nil
}
