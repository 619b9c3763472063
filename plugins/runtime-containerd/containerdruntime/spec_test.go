package containerdruntime

import (
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/skiffhq/skiff/sdk/runtime"
)

func TestProcessArgsFollowKubernetes(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default-arg"}}
	for _, tc := range []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image as is", nil, nil, []string{"/entry", "default-arg"}},
		{"args replace cmd", nil, []string{"a"}, []string{"/entry", "a"}},
		{"command drops cmd", []string{"/bin/x"}, nil, []string{"/bin/x"}},
		{"command and args", []string{"/bin/x"}, []string{"a", "b"}, []string{"/bin/x", "a", "b"}},
	} {
		if got := processArgs(img, tc.command, tc.args); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBindMountsAreChecked(t *testing.T) {
	dir := t.TempDir()
	ms, err := bindMounts([]runtime.Mount{{HostPath: dir, ContainerPath: "/data", ReadOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Type != "bind" || !slices.Contains(ms[0].Options, "ro") || !slices.Contains(ms[0].Options, "rbind") {
		t.Errorf("mount %+v", ms)
	}
	for _, bad := range []runtime.Mount{
		{HostPath: "relative", ContainerPath: "/x"},
		{HostPath: dir, ContainerPath: "relative"},
		{HostPath: dir + "/missing", ContainerPath: "/x"},
	} {
		if _, err := bindMounts([]runtime.Mount{bad}); err == nil {
			t.Errorf("mount %+v accepted", bad)
		}
	}
}

func TestLabels(t *testing.T) {
	all := withLabels(map[string]string{"app": "web"}, map[string]string{labelName: "c"})
	if got := userLabels(all); len(got) != 1 || got["app"] != "web" {
		t.Errorf("userLabels = %v", got)
	}
	if !matchLabels(all, map[string]string{"app": "web"}) || matchLabels(all, map[string]string{"app": "db"}) || !matchLabels(all, nil) {
		t.Error("matchLabels is wrong")
	}
	if checkUserLabels(map[string]string{labelPrefix + "x": ""}) == nil {
		t.Error("a reserved label was accepted")
	}
	if got := kindFilter(kindSandbox); got != `labels."skiff.runtime.kind"==sandbox` {
		t.Errorf("kindFilter = %s", got)
	}
}

func TestSandboxIDIsStablePerPod(t *testing.T) {
	first, again, other := sandboxID("a"), sandboxID("a"), sandboxID("b")
	if first != again || first == other {
		t.Error("sandbox IDs must be a function of the pod UID")
	}
}

func TestHostnameIsCutLikeKubelet(t *testing.T) {
	long := strings.Repeat("a", 62) + "-bbbb"
	for _, tc := range []struct {
		sb   sandboxInfo
		want string
	}{
		{sandboxInfo{Hostname: "h", Sandbox: runtime.Sandbox{Name: "pod"}}, "h"},
		{sandboxInfo{Sandbox: runtime.Sandbox{Name: "pod"}}, "pod"},
		{sandboxInfo{Sandbox: runtime.Sandbox{Name: long}}, strings.Repeat("a", 62)},
	} {
		if got := tc.sb.hostname(); got != tc.want {
			t.Errorf("hostname of %+v = %q, want %q", tc.sb, got, tc.want)
		}
	}
}
