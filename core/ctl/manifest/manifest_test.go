package manifest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	o, err := decodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestParseDocuments(t *testing.T) {
	in := `# leading comment
apiVersion: v1
kind: Pod
metadata: {name: a}
--- # separator with a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: b}}
- {apiVersion: v1, kind: Pod, metadata: {name: c}}
---
key: [unclosed
`
	docs, err := Parse("x.yaml", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range docs {
		if d.Err != nil {
			names = append(names, "ERR@"+itoa(d.Index))
			continue
		}
		names = append(names, MetaOf(d.Object).Name+"@"+itoa(d.Index))
	}
	if got := strings.Join(names, " "); got != "a@1 b@2 c@2 ERR@3" {
		t.Errorf("documents = %s", got)
	}
	if !strings.HasPrefix(docs[3].Err.Error(), "error parsing x.yaml (document 3): ") {
		t.Errorf("error = %v", docs[3].Err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestParseRejectsScalars(t *testing.T) {
	docs, err := Parse("s", strings.NewReader("just a string\n"))
	if err != nil || len(docs) != 1 || docs[0].Err == nil {
		t.Fatalf("docs = %+v, err = %v", docs, err)
	}
}

func TestLastApplied(t *testing.T) {
	o := obj(t, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"old","a":"b"}},"spec":{"x":null,"n":1.5}}`)
	got, err := LastApplied(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"a":"b"},"name":"x"},"spec":{"n":1.5}}` + "\n"
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if Annotation(o, LastAppliedAnnotation) != "old" {
		t.Error("LastApplied changed its argument")
	}
}

func TestUnchangedIgnoresServerDefaults(t *testing.T) {
	desired := obj(t, `{"metadata":{"name":"x","labels":{"a":"1"}},"spec":{"containers":[{"name":"c","image":"i","ports":[{"containerPort":80}]}]}}`)
	live := obj(t, `{"metadata":{"name":"x","uid":"u","labels":{"a":"1","added-by-server":"y"}},
		"spec":{"restartPolicy":"Always","containers":[{"name":"c","image":"i","imagePullPolicy":"Always","ports":[{"containerPort":80,"protocol":"TCP"}]}]},
		"status":{"phase":"Running"}}`)
	if !Unchanged(live, desired) {
		t.Error("defaults made it look changed")
	}
	desired["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = "j"
	if Unchanged(live, desired) {
		t.Error("image change not seen")
	}
	more := obj(t, `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c"},{"name":"d"}]}}`)
	if Unchanged(live, more) {
		t.Error("added container not seen")
	}
}

func TestMerge(t *testing.T) {
	original := obj(t, `{"metadata":{"labels":{"old":"1","keep":"1"}},"spec":{"activeDeadlineSeconds":5,
		"containers":[{"name":"c","image":"i:1","env":[{"name":"A","value":"1"}]}]}}`)
	desired := obj(t, `{"metadata":{"labels":{"keep":"2"},"annotations":{"note":"n"}},"spec":{
		"containers":[{"name":"c","image":"i:2"},{"name":"d","image":"j"}]}}`)
	live := obj(t, `{"metadata":{"name":"x","resourceVersion":"7","labels":{"old":"1","keep":"1","server":"s"}},
		"spec":{"activeDeadlineSeconds":5,"restartPolicy":"Always","containers":[
			{"name":"c","image":"i:1","imagePullPolicy":"IfNotPresent","env":[{"name":"A","value":"1"}]}]},
		"status":{"phase":"Running"}}`)
	got := Merge(live, desired, original)
	want := obj(t, `{"metadata":{"name":"x","resourceVersion":"7","labels":{"keep":"2","server":"s"},"annotations":{"note":"n"}},
		"spec":{"restartPolicy":"Always","containers":[
			{"name":"c","image":"i:2","imagePullPolicy":"IfNotPresent"},
			{"name":"d","image":"j"}]},
		"status":{"phase":"Running"}}`)
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("merge:\n got %s\nwant %s", g, w)
	}
	// live is left alone.
	if live["spec"].(map[string]any)["activeDeadlineSeconds"] == nil {
		t.Error("Merge modified live")
	}
}

func TestMergeWithoutOriginalKeepsLiveFields(t *testing.T) {
	live := obj(t, `{"metadata":{"labels":{"x":"1"}},"spec":{"a":1,"b":2}}`)
	desired := obj(t, `{"metadata":{"name":"n"},"spec":{"a":3}}`)
	got := Merge(live, desired, nil)
	want := obj(t, `{"metadata":{"labels":{"x":"1"}},"spec":{"a":3,"b":2}}`)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
