package printers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"
)

// Object is a decoded API object: the generic form -o printers work on.
// Numbers are json.Number so they print back unchanged.
type Object = map[string]any

// DecodeObject decodes the JSON of an object.
func DecodeObject(raw []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj Object
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	return obj, nil
}

// NewList wraps items in a v1 List as kubectl's -o yaml/json shows lists.
func NewList(items []Object) Object {
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it
	}
	return Object{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      list,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
}

// ObjectPrinter prints whole objects (or a List) for the -o formats that
// are not tables.
type ObjectPrinter interface {
	PrintObject(w io.Writer, obj Object) error
}

// OutputFormats are the -o values skiffctl knows, as kubectl lists them.
var OutputFormats = []string{"custom-columns", "json", "jsonpath", "name", "wide", "yaml"}

// NewObjectPrinter returns the printer for an -o value other than "" and
// "wide" (which are tables).
func NewObjectPrinter(format string, noHeaders bool) (ObjectPrinter, error) {
	name, arg, _ := strings.Cut(format, "=")
	switch name {
	case "yaml":
		return &YAMLPrinter{}, nil
	case "json":
		return JSONPrinter{}, nil
	case "name":
		return NamePrinter{}, nil
	case "jsonpath":
		return NewJSONPathPrinter(arg)
	case "custom-columns":
		return NewCustomColumnsPrinter(arg, noHeaders)
	}
	return nil, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: %s",
		format, strings.Join(OutputFormats, ","))
}

// IsTableFormat reports whether -o format prints a table.
func IsTableFormat(format string) bool { return format == "" || format == "wide" }

// JSONPrinter prints objects as indented JSON with sorted keys.
type JSONPrinter struct{}

// PrintObject implements ObjectPrinter.
func (JSONPrinter) PrintObject(w io.Writer, obj Object) error {
	data, err := json.MarshalIndent(obj, "", "    ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// YAMLPrinter prints objects as YAML, separated by "---" after the first.
type YAMLPrinter struct{ count int }

// PrintObject implements ObjectPrinter.
func (p *YAMLPrinter) PrintObject(w io.Writer, obj Object) error {
	p.count++
	if p.count > 1 {
		if _, err := io.WriteString(w, "---\n"); err != nil {
			return err
		}
	}
	data, err := ToYAML(obj)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// ToYAML renders obj as kubectl's YAML printer does (keys sorted).
func ToYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return y, nil
}

// NamePrinter prints "kind/name" lines; Operation, when set, follows them
// ("pod/nginx created").
type NamePrinter struct{ Operation string }

// PrintObject implements ObjectPrinter.
func (p NamePrinter) PrintObject(w io.Writer, obj Object) error {
	for _, o := range Items(obj) {
		kind := strings.ToLower(str(o, "kind"))
		// kubectl qualifies kinds outside the core group: "lease.coordination.k8s.io/x".
		if group, _, ok := strings.Cut(str(o, "apiVersion"), "/"); ok {
			kind += "." + group
		}
		line := kind + "/" + str(o, "metadata", "name")
		if p.Operation != "" {
			line += " " + p.Operation
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// Items returns the items of a List, or the object itself.
func Items(obj Object) []Object {
	if str(obj, "kind") != "List" {
		return []Object{obj}
	}
	raw, _ := obj["items"].([]any)
	out := make([]Object, 0, len(raw))
	for _, it := range raw {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(obj Object, path ...string) string {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

// JSONPathPrinter prints a jsonpath template over the object (a list is
// given whole, as kubectl does).
type JSONPathPrinter struct {
	template string
	jp       *jsonpath.JSONPath
}

// NewJSONPathPrinter parses a kubectl -o jsonpath template.
func NewJSONPathPrinter(template string) (*JSONPathPrinter, error) {
	if template == "" {
		return nil, fmt.Errorf("template format specified but no template given")
	}
	jp := jsonpath.New("out").AllowMissingKeys(true)
	if err := jp.Parse(template); err != nil {
		return nil, fmt.Errorf("error parsing jsonpath %s, %w", template, err)
	}
	return &JSONPathPrinter{template: template, jp: jp}, nil
}

// PrintObject implements ObjectPrinter.
func (p *JSONPathPrinter) PrintObject(w io.Writer, obj Object) error {
	if err := p.jp.Execute(w, plainNumbers(obj)); err != nil {
		return fmt.Errorf("error executing jsonpath %q: %w", p.template, err)
	}
	return nil
}

// plainNumbers turns json.Number into int64 or float64, the types
// unstructured objects hold, so jsonpath prints and compares them.
func plainNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = plainNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = plainNumbers(e)
		}
		return out
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		f, _ := t.Float64()
		return f
	}
	return v
}

// relaxedPath accepts "a.b", ".a.b", "{a.b}" and "{.a.b}".
var relaxedPath = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

func relaxedJSONPath(expr string) (string, error) {
	m := relaxedPath.FindStringSubmatch(expr)
	if m == nil {
		return "", fmt.Errorf("unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' or '{.name1.name2}'")
	}
	field := m[1]
	if field == "" {
		field = m[2]
	}
	return "{." + field + "}", nil
}

// CustomColumnsPrinter prints -o custom-columns=HEADER:path,... tables.
type CustomColumnsPrinter struct {
	headers   []string
	parsers   []*jsonpath.JSONPath
	noHeaders bool
	printed   bool
}

// NewCustomColumnsPrinter parses a custom-columns spec.
func NewCustomColumnsPrinter(spec string, noHeaders bool) (*CustomColumnsPrinter, error) {
	if spec == "" {
		return nil, fmt.Errorf("custom-columns format specified but no custom columns given")
	}
	p := &CustomColumnsPrinter{noHeaders: noHeaders}
	for _, part := range strings.Split(spec, ",") {
		header, expr, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("unexpected custom-columns spec: %s, expected <header>:<json-path-expr>", part)
		}
		path, err := relaxedJSONPath(expr)
		if err != nil {
			return nil, err
		}
		jp := jsonpath.New(header).AllowMissingKeys(true)
		if err := jp.Parse(path); err != nil {
			return nil, fmt.Errorf("custom-columns %q: %w", part, err)
		}
		p.headers = append(p.headers, header)
		p.parsers = append(p.parsers, jp)
	}
	return p, nil
}

// PrintObject implements ObjectPrinter; a List prints a row per item.
func (p *CustomColumnsPrinter) PrintObject(w io.Writer, obj Object) error {
	if !p.noHeaders && !p.printed {
		if _, err := fmt.Fprintln(w, strings.Join(p.headers, "\t")); err != nil {
			return err
		}
	}
	p.printed = true
	for _, it := range Items(obj) {
		row, err := p.row(plainNumbers(it))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w, strings.Join(row, "\t")); err != nil {
			return err
		}
	}
	return nil
}

func (p *CustomColumnsPrinter) row(obj any) ([]string, error) {
	cells := make([]string, len(p.parsers))
	for i, jp := range p.parsers {
		results, err := jp.FindResults(obj)
		if err != nil {
			return nil, err
		}
		var values []string
		for _, set := range results {
			for _, v := range set {
				values = append(values, fmt.Sprint(valueOf(v)))
			}
		}
		if len(values) == 0 {
			values = []string{"<none>"}
		}
		cells[i] = cleanCell(strings.Join(values, ","))
	}
	return cells, nil
}

func valueOf(v reflect.Value) any {
	if v.IsValid() && v.CanInterface() {
		return v.Interface()
	}
	return nil
}
