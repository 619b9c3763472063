package volumesplugin

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/sdk/volumes"
)

// The layout of a Files volume (see the package doc).
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
	tsPrefix    = "..ts-"
)

// writeAtomic makes dir hold exactly files, switching from the previous
// content in one rename. Unchanged content is left alone. It returns the
// payload directory "..data" points to.
func writeAtomic(dir string, files map[string]file) (string, error) {
	if unchanged(filepath.Join(dir, dataLink), files) {
		if ts, err := os.Readlink(filepath.Join(dir, dataLink)); err == nil {
			return ts, nil
		}
	}
	ts, err := writePayload(dir, files)
	if err != nil {
		return "", err
	}
	if err := swapDataLink(dir, ts); err != nil {
		_ = os.RemoveAll(filepath.Join(dir, ts))
		return "", err
	}
	if err := linkTopLevel(dir, files); err != nil {
		return "", err
	}
	return ts, removeStale(dir, ts, files)
}

// digest sums files (paths, modes and contents) to tell cheaply whether a
// payload already written is still what is wanted.
func digest(files map[string]file) [sha256.Size]byte {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	var n [8]byte
	for _, p := range paths {
		f := files[p]
		for _, part := range [][]byte{[]byte(p), f.data} {
			binary.BigEndian.PutUint64(n[:], uint64(len(part)))
			h.Write(n[:])
			h.Write(part)
		}
		binary.BigEndian.PutUint64(n[:], uint64(f.mode))
		h.Write(n[:])
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// writePayload writes files into a new hidden directory and returns its
// name.
func writePayload(dir string, files map[string]file) (string, error) {
	ts, err := os.MkdirTemp(dir, tsPrefix)
	if err != nil {
		return "", fmt.Errorf("files: %w", err)
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return "", fmt.Errorf("files: %w", err)
	}
	for rel, f := range files {
		p, err := inside(ts, rel)
		if err == nil {
			err = writeFile(p, f)
		}
		if err != nil {
			_ = os.RemoveAll(ts)
			return "", fmt.Errorf("file %q: %w", rel, err)
		}
	}
	return filepath.Base(ts), nil
}

// inside joins rel to dir, refusing a result outside dir: planFiles has
// already checked every path, this is the second line of defence.
func inside(dir, rel string) (string, error) {
	p := filepath.Join(dir, filepath.FromSlash(rel))
	r, err := filepath.Rel(dir, p)
	// A path of the payload never starts with "..": checkItemPath refuses it.
	if err != nil || r == "." || strings.HasPrefix(r, "..") {
		return "", fmt.Errorf("path %q leaves the volume: %w", rel, volumes.ErrInvalidPath)
	}
	return p, nil
}

func writeFile(p string, f file) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, f.data, f.mode); err != nil {
		return err
	}
	return os.Chmod(p, f.mode) // not subject to the umask
}

// swapDataLink points "..data" at ts with a rename, which is atomic.
func swapDataLink(dir, ts string) error {
	tmp := filepath.Join(dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("files: %w", err)
	}
	if err := os.Symlink(ts, tmp); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

// linkTopLevel makes each top-level name a symlink through "..data".
func linkTopLevel(dir string, files map[string]file) error {
	for name := range topLevel(files) {
		link := filepath.Join(dir, name)
		target := filepath.Join(dataLink, name)
		if got, err := os.Readlink(link); err == nil && got == target {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return fmt.Errorf("file %q: %w", name, err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("file %q: %w", name, err)
		}
	}
	return nil
}

// removeStale removes top-level names no longer in files, and payload
// directories other than current.
func removeStale(dir, current string, files map[string]file) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	keep := topLevel(files)
	var errs []error
	for _, e := range entries {
		name := e.Name()
		stale := false
		switch {
		case strings.HasPrefix(name, tsPrefix):
			stale = name != current
		case strings.HasPrefix(name, ".."):
		default:
			stale = !keep[name]
		}
		if stale {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	return nil
}

func topLevel(files map[string]file) map[string]bool {
	out := make(map[string]bool, len(files))
	for rel := range files {
		out[strings.SplitN(rel, "/", 2)[0]] = true
	}
	return out
}

// unchanged reports whether the payload under data holds exactly files.
func unchanged(data string, files map[string]file) bool {
	n := 0
	err := filepath.WalkDir(data+"/", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(data, p)
		if err != nil {
			return err
		}
		f, ok := files[filepath.ToSlash(rel)]
		if !ok || !sameFile(p, d, f) {
			return errChanged
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

var errChanged = errors.New("changed")

func sameFile(p string, d fs.DirEntry, f file) bool {
	info, err := d.Info()
	if err != nil || !info.Mode().IsRegular() || info.Mode().Perm() != f.mode || info.Size() != int64(len(f.data)) {
		return false
	}
	got, err := os.ReadFile(p)
	return err == nil && bytes.Equal(got, f.data)
}
