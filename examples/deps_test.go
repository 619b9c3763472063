// Package examples_test checks that the example plugins are written as an
// author outside the project would write them: against skiff's public SDK
// (sdk/) only, never the core, the shipped plugins or the test helpers.
package examples_test

import (
	"os/exec"
	"strings"
	"testing"
)

func TestExamplesImportOnlyTheSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/skiffhq/skiff/examples/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned %d packages; the check would prove nothing", len(deps))
	}
	for _, dep := range deps {
		// -test lists test variants too: "p [p.test]", "p_test", "p.test".
		dep = strings.Trim(dep, "[]")
		dep = strings.TrimSuffix(strings.TrimSuffix(dep, ".test"), "_test")
		if !strings.HasPrefix(dep, "github.com/skiffhq/skiff/") {
			continue
		}
		rest := strings.TrimPrefix(dep, "github.com/skiffhq/skiff/")
		if !strings.HasPrefix(rest, "sdk/") && !strings.HasPrefix(rest, "examples/") && rest != "examples" {
			t.Errorf("an example depends on %s: examples may use sdk/ only", dep)
		}
	}
}
