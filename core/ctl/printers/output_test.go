package printers

import (
	"bytes"
	"strings"
	"testing"
)

const podJSON = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"nginx","namespace":"default","labels":{"run":"nginx"}},
"spec":{"containers":[{"name":"nginx","image":"nginx","ports":[{"containerPort":80}]}]},
"status":{"phase":"Running","podIP":"10.1.0.4"}}`

func mustDecode(t *testing.T, s string) Object {
	t.Helper()
	obj, err := DecodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func printAs(t *testing.T, format string, obj Object) string {
	t.Helper()
	p, err := NewObjectPrinter(format, false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := NewTabWriter(&buf)
	if err := p.PrintObject(w, obj); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return buf.String()
}

func TestYAMLSortsKeysAndKeepsNumbers(t *testing.T) {
	got := printAs(t, "yaml", mustDecode(t, podJSON))
	want := `apiVersion: v1
kind: Pod
metadata:
  labels:
    run: nginx
  name: nginx
  namespace: default
spec:
  containers:
  - image: nginx
    name: nginx
    ports:
    - containerPort: 80
status:
  phase: Running
  podIP: 10.1.0.4
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestJSONListLikeKubectl(t *testing.T) {
	got := printAs(t, "json", NewList(nil))
	want := `{
    "apiVersion": "v1",
    "items": [],
    "kind": "List",
    "metadata": {
        "resourceVersion": ""
    }
}
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestYAMLSeparatesObjects(t *testing.T) {
	p := &YAMLPrinter{}
	var buf bytes.Buffer
	p.PrintObject(&buf, Object{"a": "1"})
	p.PrintObject(&buf, Object{"a": "2"})
	if got := buf.String(); got != "a: \"1\"\n---\na: \"2\"\n" {
		t.Errorf("got %q", got)
	}
}

func TestNamePrinter(t *testing.T) {
	list := NewList([]Object{mustDecode(t, podJSON), {"kind": "Node", "metadata": map[string]any{"name": "n1"}}})
	if got := printAs(t, "name", list); got != "pod/nginx\nnode/n1\n" {
		t.Errorf("got %q", got)
	}
	var buf bytes.Buffer
	NamePrinter{Operation: "created"}.PrintObject(&buf, mustDecode(t, podJSON))
	if buf.String() != "pod/nginx created\n" {
		t.Errorf("got %q", buf.String())
	}
}

func TestJSONPath(t *testing.T) {
	obj := mustDecode(t, podJSON)
	tests := map[string]string{
		"jsonpath={.metadata.name}":                              "nginx",
		"jsonpath={.spec.containers[0].ports[0].containerPort}":  "80",
		"jsonpath={.status.missing}":                             "",
		`jsonpath={range .spec.containers[*]}{.name}{"\n"}{end}`: "nginx\n",
	}
	for format, want := range tests {
		if got := printAs(t, format, obj); got != want {
			t.Errorf("%s = %q, want %q", format, got, want)
		}
	}
	list := NewList([]Object{obj, obj})
	if got := printAs(t, "jsonpath={.items[*].metadata.name}", list); got != "nginx nginx" {
		t.Errorf("list jsonpath = %q", got)
	}
	if _, err := NewObjectPrinter("jsonpath={.metadata.name", false); err == nil {
		t.Error("bad template accepted")
	}
}

func TestCustomColumns(t *testing.T) {
	list := NewList([]Object{mustDecode(t, podJSON),
		mustDecode(t, `{"kind":"Pod","metadata":{"name":"a-much-longer-name"},"spec":{"containers":[{"name":"x"},{"name":"y"}]}}`)})
	got := printAs(t, "custom-columns=NAME:.metadata.name,IP:status.podIP,CONTAINERS:{.spec.containers[*].name}", list)
	want := `NAME                 IP         CONTAINERS
nginx                10.1.0.4   nginx
a-much-longer-name   <none>     x,y
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := NewObjectPrinter("custom-columns=NAME", false); err == nil ||
		!strings.Contains(err.Error(), "expected <header>:<json-path-expr>") {
		t.Errorf("bad spec error = %v", err)
	}
}

func TestUnknownFormat(t *testing.T) {
	_, err := NewObjectPrinter("toml", false)
	if err == nil || !strings.Contains(err.Error(), `unable to match a printer suitable for the output format "toml"`) {
		t.Errorf("err = %v", err)
	}
}
