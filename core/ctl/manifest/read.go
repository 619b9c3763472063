// Package manifest reads Kubernetes manifests (files, directories, stdin;
// multi-document YAML or JSON) into generic objects, and holds the
// client-side apply logic: the last-applied annotation and the three-way
// merge kubectl does.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// MaxDocumentSize is the largest document skiffctl sends (the API's limit
// on one object is in the same range).
const MaxDocumentSize = 3 << 20

// StdinName names standard input in messages, as kubectl does.
const StdinName = "STDIN"

// Document is one object read from a manifest, or the error that kept it
// from being read. Index counts the documents of Source from 1, skipping
// empty ones as the YAML splitter does.
type Document struct {
	Source string
	Index  int
	Object map[string]any
	Err    error
}

// Read reads every document of the given -f values: files, directories
// (their *.yaml, *.yml and *.json files, in name order) and "-" for stdin.
// A path that cannot be read is an error; a document that cannot be
// parsed is returned with Err set so the others still go ahead.
func Read(paths []string, stdin io.Reader) ([]Document, error) {
	var docs []Document
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			d, err := readSource(f, stdin)
			if err != nil {
				return nil, err
			}
			docs = append(docs, d...)
		}
	}
	return docs, nil
}

func expand(path string) ([]string, error) {
	if path == "-" {
		return []string{"-"}, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("the path %q does not exist", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", path, err)
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && isManifestName(e.Name()) {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

func readSource(path string, stdin io.Reader) ([]Document, error) {
	name, r := path, stdin
	if path == "-" {
		name = StdinName
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	return Parse(name, r)
}

// Parse splits r into YAML documents and decodes each one.
func Parse(source string, r io.Reader) ([]Document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []Document
	for index := 1; ; index++ {
		raw, err := reader.Read()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", source, err)
		}
		docs = append(docs, decode(source, index, raw)...)
	}
}

// decode turns one document into objects: none for an empty document,
// the items of a v1 List, or the object itself.
func decode(source string, index int, raw []byte) []Document {
	fail := func(err error) []Document {
		return []Document{{Source: source, Index: index, Err: err}}
	}
	if len(raw) > MaxDocumentSize {
		return fail(fmt.Errorf("error parsing %s (document %d): the document is %d bytes, over the limit of %d bytes (3 MiB)",
			source, index, len(raw), MaxDocumentSize))
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fail(fmt.Errorf("error parsing %s (document %d): %w", source, index, err))
	}
	js = bytes.TrimSpace(js)
	if len(js) == 0 || string(js) == "null" {
		return nil
	}
	obj, err := decodeObject(js)
	if err != nil {
		return fail(fmt.Errorf("error parsing %s (document %d): %w", source, index, err))
	}
	if obj["kind"] == "List" {
		return listItems(source, index, obj)
	}
	return []Document{{Source: source, Index: index, Object: obj}}
}

func decodeObject(js []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected an object, got %s", strings.TrimSpace(string(js)))
	}
	return obj, nil
}

func listItems(source string, index int, list map[string]any) []Document {
	items, _ := list["items"].([]any)
	var docs []Document
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			docs = append(docs, Document{Source: source, Index: index,
				Err: fmt.Errorf("error parsing %s (document %d): item %d of the List is not an object", source, index, i)})
			continue
		}
		docs = append(docs, Document{Source: source, Index: index, Object: obj})
	}
	return docs
}

// Meta is what identifies a manifest object.
type Meta struct {
	APIVersion, Kind, Namespace, Name string
}

// MetaOf reads apiVersion, kind and metadata.name/namespace of obj.
func MetaOf(obj map[string]any) Meta {
	md, _ := obj["metadata"].(map[string]any)
	s := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	return Meta{APIVersion: s(obj, "apiVersion"), Kind: s(obj, "kind"), Namespace: s(md, "namespace"), Name: s(md, "name")}
}
