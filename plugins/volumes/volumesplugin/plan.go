package volumesplugin

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Kubernetes' mode for files when a volume sets none.
const defaultFileMode os.FileMode = 0o644

// plan is one volume, checked and resolved, ready to write.
type plan struct {
	name     string
	emptyDir *volumes.EmptyDir
	hostPath *volumes.HostPath
	files    map[string]file // by cleaned relative path
	// sensitive files go to tmpfs.
	sensitive bool
	// keep leaves a Files volume as it is (volumes.Files.Keep).
	keep bool
}

type file struct {
	data []byte
	mode os.FileMode
}

func (pl plan) dirMode() os.FileMode {
	if pl.emptyDir != nil {
		return 0o777 // writable by any container user, as the kubelet makes it
	}
	return 0o755
}

// prepare makes the volume in dir. written remembers the payload last
// written to each Files volume, so that preparing an unchanged volume
// again (every agent sync) costs a readlink, not a walk of its files.
func (pl plan) prepare(dir string, written map[string]payload) error {
	switch {
	case pl.emptyDir != nil && pl.emptyDir.Medium == MediumMemory:
		return ensureTmpfs(dir, 0o777, pl.emptyDir.SizeLimitBytes)
	case pl.emptyDir != nil:
		return nil
	case pl.keep:
		if _, err := os.Readlink(filepath.Join(dir, dataLink)); err != nil {
			return fmt.Errorf("asked to keep its content, but it was never written: %w", base.ErrNotFound)
		}
		return nil
	}
	sum := digest(pl.files)
	if w, ok := written[dir]; ok && w.sum == sum {
		if ts, err := os.Readlink(filepath.Join(dir, dataLink)); err == nil && ts == w.ts {
			return nil
		}
	}
	delete(written, dir)
	if pl.sensitive {
		if err := ensureTmpfs(dir, 0o755, 0); err != nil {
			return err
		}
	}
	ts, err := writeAtomic(dir, pl.files)
	if err != nil {
		return err
	}
	written[dir] = payload{sum: sum, ts: ts}
	return nil
}

// payload is what a Files volume holds: the digest of its files and the
// hidden directory "..data" points to.
type payload struct {
	sum [sha256.Size]byte
	ts  string
}

// planPod checks a pod's volumes and resolves their files.
func planPod(pod volumes.Pod) ([]plan, error) {
	if err := checkName("pod UID", pod.UID); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(pod.Volumes))
	plans := make([]plan, 0, len(pod.Volumes))
	for _, v := range pod.Volumes {
		if err := checkName("volume name", v.Name); err != nil {
			return nil, err
		}
		if seen[v.Name] {
			return nil, fmt.Errorf("volume %q: listed twice: %w", v.Name, base.ErrInvalid)
		}
		seen[v.Name] = true
		pl, err := planVolume(v)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		plans = append(plans, pl)
	}
	return plans, nil
}

func planVolume(v volumes.Volume) (plan, error) {
	n := 0
	for _, set := range []bool{v.EmptyDir != nil, v.Files != nil, v.HostPath != nil} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return plan{}, fmt.Errorf("exactly one of emptyDir, files and hostPath must be set: %w", base.ErrInvalid)
	case v.EmptyDir != nil:
		return planEmptyDir(v.Name, *v.EmptyDir)
	case v.HostPath != nil:
		return planHostPath(v.Name, *v.HostPath)
	}
	if v.Files.Keep {
		return plan{name: v.Name, sensitive: v.Files.Sensitive, keep: true}, nil
	}
	fs, err := planFiles(*v.Files)
	if err != nil {
		return plan{}, err
	}
	return plan{name: v.Name, files: fs, sensitive: v.Files.Sensitive}, nil
}

func planEmptyDir(name string, e volumes.EmptyDir) (plan, error) {
	if e.Medium != "" && e.Medium != MediumMemory {
		return plan{}, fmt.Errorf("emptyDir medium %q: not supported by skiff: %w", e.Medium, base.ErrUnsupported)
	}
	if e.SizeLimitBytes < 0 {
		return plan{}, fmt.Errorf("emptyDir size limit %d: negative: %w", e.SizeLimitBytes, base.ErrInvalid)
	}
	return plan{name: name, emptyDir: &e}, nil
}

// planFiles resolves which key goes to which path with which mode.
func planFiles(f volumes.Files) (map[string]file, error) {
	defMode, err := checkMode(f.DefaultMode, defaultFileMode)
	if err != nil {
		return nil, fmt.Errorf("default mode: %w", err)
	}
	items := f.Items
	if len(items) == 0 {
		for k := range f.Data {
			items = append(items, volumes.KeyToPath{Key: k, Path: k})
		}
	}
	out := make(map[string]file, len(items))
	for _, it := range items {
		data, ok := f.Data[it.Key]
		if !ok {
			return nil, fmt.Errorf("item key %q: not in the data: %w", it.Key, base.ErrInvalid)
		}
		p, err := checkItemPath(it.Path)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key, err)
		}
		mode, err := checkMode(it.Mode, defMode)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", it.Key, err)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("item path %q: used twice: %w", it.Path, volumes.ErrInvalidPath)
		}
		out[p] = file{data: data, mode: mode}
	}
	return out, checkNesting(out)
}

// checkItemPath returns the cleaned path, or why it cannot be used: it
// must stay inside the volume and not collide with the "..data" layout.
func checkItemPath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("item path is empty: %w", volumes.ErrInvalidPath)
	case path.IsAbs(p):
		return "", fmt.Errorf("item path %q: absolute: %w", p, volumes.ErrInvalidPath)
	case strings.HasPrefix(p, ".."):
		return "", fmt.Errorf("item path %q: starts with \"..\": %w", p, volumes.ErrInvalidPath)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("item path %q: contains \"..\": %w", p, volumes.ErrInvalidPath)
		}
	}
	clean := path.Clean(p)
	if clean == "." {
		return "", fmt.Errorf("item path %q: names the volume itself: %w", p, volumes.ErrInvalidPath)
	}
	return clean, nil
}

// checkNesting rejects a file that is also used as another's directory.
func checkNesting(fs map[string]file) error {
	for p := range fs {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if _, clash := fs[dir]; clash {
				return fmt.Errorf("item path %q: %q is a file: %w", p, dir, volumes.ErrInvalidPath)
			}
		}
	}
	return nil
}

func checkMode(m, def os.FileMode) (os.FileMode, error) {
	if m == 0 {
		return def, nil
	}
	if m&^os.ModePerm != 0 {
		return 0, fmt.Errorf("mode %#o: want 0 to 0777: %w", uint32(m), base.ErrInvalid)
	}
	return m, nil
}

// checkName checks a name used as one path element.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s is empty: %w", what, base.ErrInvalid)
	case strings.ContainsRune(name, '/') || strings.HasPrefix(name, ".."):
		return fmt.Errorf("%s %q: not a plain name: %w", what, name, volumes.ErrInvalidPath)
	case name == ".":
		return fmt.Errorf("%s %q: not a plain name: %w", what, name, volumes.ErrInvalidPath)
	}
	return nil
}
