package containerdruntime

import (
	"strings"
	"testing"

	"github.com/containerd/containerd/filters"
)

// TestLabelsFilter checks the filter with containerd's own parser, matched
// the way its metadata store matches containers' labels.
func TestLabelsFilter(t *testing.T) {
	have := map[string]string{
		labelKind:              kindContainer,
		"skiff.dev/pod-uid":    "0b3c-11",
		"empty":                "",
		"odd \"key\"":          "a,b==c\\d é",
		"app.kubernetes.io/nm": "web",
	}
	match := func(want map[string]string) bool {
		f, err := filters.Parse(kindFilter(kindContainer) + labelsFilter(want))
		if err != nil {
			t.Fatalf("filter for %q: %v", want, err)
		}
		return f.Match(filters.AdapterFunc(func(fp []string) (string, bool) {
			if len(fp) < 2 || fp[0] != "labels" {
				return "", false
			}
			v, ok := have[strings.Join(fp[1:], ".")]
			return v, ok
		}))
	}
	for _, want := range []map[string]string{
		nil,
		{"skiff.dev/pod-uid": "0b3c-11"},
		{"skiff.dev/pod-uid": "0b3c-11", "app.kubernetes.io/nm": "web"},
		{"empty": ""},
		{"odd \"key\"": "a,b==c\\d é"},
	} {
		if !match(want) || !matchLabels(have, want) {
			t.Errorf("%q does not select labels %q", labelsFilter(want), want)
		}
	}
	for _, want := range []map[string]string{
		{"skiff.dev/pod-uid": "0b3c-1"},
		{"skiff.dev/pod-uid": "0b3c-11", "app.kubernetes.io/nm": "db"},
		{"missing": ""},
	} {
		if match(want) {
			t.Errorf("%q selects labels %q", labelsFilter(want), want)
		}
	}
}
