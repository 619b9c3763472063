// Package sdk_test keeps the plugin SDK light and independent: a plugin
// author imports sdk/ and must not pull in skiff's core, containerd, etcd or
// Kubernetes' API machinery.
package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

var forbidden = []string{
	"github.com/skiffhq/skiff/core",
	"github.com/skiffhq/skiff/plugins",
	"github.com/containerd/",
	"go.etcd.io/",
	"k8s.io/",
}

func TestSDKImportsNoCoreOrHeavyDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/skiffhq/skiff/sdk/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned %d packages; the check would prove nothing", len(deps))
	}
	for _, dep := range deps {
		for _, bad := range forbidden {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("sdk depends on %s", dep)
			}
		}
	}
}
