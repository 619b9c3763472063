package volumesplugin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
	"github.com/skiffhq/skiff/sdk/volumes/conformance"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(*testing.T) volumes.Volumes { return New() })
}

func TestCheckItemPath(t *testing.T) {
	for p, want := range map[string]string{
		"a":         "a",
		"a/b/c.txt": "a/b/c.txt",
		"./a":       "a",
		"a//b":      "a/b",
		"a..b":      "a..b",
		"dir/..x":   "dir/..x",
	} {
		got, err := checkItemPath(p)
		if err != nil || got != want {
			t.Errorf("checkItemPath(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"", "/a", "..", "../a", "a/../../b", "a/..", "..data", "..a/b", ".", "./"} {
		if _, err := checkItemPath(p); !errors.Is(err, volumes.ErrInvalidPath) {
			t.Errorf("checkItemPath(%q) error = %v, want volumes.ErrInvalidPath", p, err)
		}
	}
}

func TestPlanRejects(t *testing.T) {
	data := map[string][]byte{"a": []byte("1"), "b": []byte("2")}
	for name, tc := range map[string]struct {
		pod  volumes.Pod
		want error
	}{
		"no uid":         {volumes.Pod{}, base.ErrInvalid},
		"uid with slash": {volumes.Pod{UID: "../x"}, volumes.ErrInvalidPath},
		"volume name":    {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a/b", EmptyDir: &volumes.EmptyDir{}}}}, volumes.ErrInvalidPath},
		"twice": {volumes.Pod{UID: "u", Volumes: []volumes.Volume{
			{Name: "a", EmptyDir: &volumes.EmptyDir{}}, {Name: "a", EmptyDir: &volumes.EmptyDir{}}}}, base.ErrInvalid},
		"no source":  {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a"}}}, base.ErrInvalid},
		"bad medium": {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a", EmptyDir: &volumes.EmptyDir{Medium: "HugePages"}}}}, base.ErrUnsupported},
		"missing key": {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a", Files: &volumes.Files{
			Data: data, Items: []volumes.KeyToPath{{Key: "zz", Path: "zz"}}}}}}, base.ErrInvalid},
		"file used as dir": {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a", Files: &volumes.Files{
			Data: data, Items: []volumes.KeyToPath{{Key: "a", Path: "x"}, {Key: "b", Path: "x/y"}}}}}}, volumes.ErrInvalidPath},
		"mode": {volumes.Pod{UID: "u", Volumes: []volumes.Volume{{Name: "a", Files: &volumes.Files{
			Data: data, DefaultMode: 0o4755}}}}, base.ErrInvalid},
	} {
		if _, err := planPod(tc.pod); !errors.Is(err, tc.want) {
			t.Errorf("%s: planPod error = %v, want %v", name, err, tc.want)
		}
	}
}

func configured(t *testing.T) (*Plugin, string) {
	t.Helper()
	p := New()
	dir := t.TempDir()
	if err := p.Configure(context.Background(), base.Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Teardown(context.Background(), "u1") })
	return p, dir
}

func payloadDirs(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := filepath.Glob(filepath.Join(dir, tsPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestFilesUpdateLayout(t *testing.T) {
	p, _ := configured(t)
	pod := func(v string) volumes.Pod {
		return volumes.Pod{UID: "u1", Volumes: []volumes.Volume{{Name: "cfg", Files: &volumes.Files{
			Data: map[string][]byte{"k": []byte(v)}, Items: []volumes.KeyToPath{{Key: "k", Path: "d/k"}}}}}}
	}
	ms, err := p.Prepare(context.Background(), pod("1"))
	if err != nil {
		t.Fatal(err)
	}
	dir := ms[0].HostPath
	first := payloadDirs(t, dir)
	if len(first) != 1 {
		t.Fatalf("payload dirs %v, want one", first)
	}
	if target, err := os.Readlink(filepath.Join(dir, "d")); err != nil || target != filepath.Join(dataLink, "d") {
		t.Fatalf("d -> %q (%v), want a link through %s", target, err, dataLink)
	}

	// Same content: nothing is rewritten.
	if _, err := p.Prepare(context.Background(), pod("1")); err != nil {
		t.Fatal(err)
	}
	if again := payloadDirs(t, dir); len(again) != 1 || again[0] != first[0] {
		t.Fatalf("unchanged content rewrote the payload: %v -> %v", first, again)
	}

	// New content: a new payload replaces the old one.
	if _, err := p.Prepare(context.Background(), pod("2")); err != nil {
		t.Fatal(err)
	}
	second := payloadDirs(t, dir)
	if len(second) != 1 || second[0] == first[0] {
		t.Fatalf("payload dirs after an update: %v (before: %v), want one new", second, first)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d", "k")); string(b) != "2" {
		t.Fatalf("d/k = %q after the update, want %q", b, "2")
	}
}

// TestPrepareRollsBack: when a volume fails, those this call created go,
// those that existed stay.
func TestPrepareRollsBack(t *testing.T) {
	p, _ := configured(t)
	ctx := context.Background()
	ms, err := p.Prepare(ctx, volumes.Pod{UID: "u1", Volumes: []volumes.Volume{{Name: "old", EmptyDir: &volumes.EmptyDir{}}}})
	if err != nil {
		t.Fatal(err)
	}
	old := ms[0].HostPath
	volDir := filepath.Dir(old)
	// A file where the next volume's directory would go makes it fail.
	if err := os.WriteFile(filepath.Join(volDir, "blocked"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = p.Prepare(ctx, volumes.Pod{UID: "u1", Volumes: []volumes.Volume{
		{Name: "old", EmptyDir: &volumes.EmptyDir{}},
		{Name: "new", EmptyDir: &volumes.EmptyDir{}},
		{Name: "blocked", Files: &volumes.Files{Data: map[string][]byte{"k": nil}}},
	}})
	if err == nil || !strings.Contains(err.Error(), `volume "blocked"`) {
		t.Fatalf("Prepare error = %v, want one naming volume \"blocked\"", err)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("the existing volume went in the rollback: %v", err)
	}
	if _, err := os.Stat(filepath.Join(volDir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the new volume survived the rollback (stat: %v)", err)
	}
}

func TestNotConfigured(t *testing.T) {
	_, err := New().Prepare(context.Background(), volumes.Pod{UID: "u1"})
	if !errors.Is(err, base.ErrNotConfigured) {
		t.Fatalf("Prepare before Configure: %v, want base.ErrNotConfigured", err)
	}
	if err := New().Configure(context.Background(), base.Config{}); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("Configure without a data dir: %v, want base.ErrInvalid", err)
	}
}

func TestTeardownRefusesEmptyUID(t *testing.T) {
	p, dir := configured(t)
	if err := p.Teardown(context.Background(), ""); !errors.Is(err, base.ErrInvalid) {
		t.Fatalf("Teardown(\"\") = %v, want base.ErrInvalid", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pods")); err != nil {
		t.Fatalf("Teardown(\"\") touched the pods dir: %v", err)
	}
}

func TestWriteAtomicRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	_, err := writeAtomic(dir, map[string]file{"../escape": {data: []byte("x"), mode: 0o644}})
	if !errors.Is(err, volumes.ErrInvalidPath) {
		t.Fatalf("writeAtomic(../escape) = %v, want volumes.ErrInvalidPath", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil { // ts/../escape
		t.Fatal("a file escaped the volume")
	}
}
