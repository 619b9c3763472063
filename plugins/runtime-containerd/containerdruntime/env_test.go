package containerdruntime

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// testRef is the busybox image the tests build and import.
const testRef = "skiff.test/busybox:1"

// testEnv is a containerd for one test, the busybox archive and a data dir.
type testEnv struct {
	socket  string
	archive string
	dir     string
}

func newTestEnv(t *testing.T) testEnv {
	t.Helper()
	testenv.RequireRoot(t)
	socket := testenv.Containerd(t)
	dir := t.TempDir()
	archive, err := testimage.BusyboxArchive(dir, testRef)
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	return testEnv{socket: socket, archive: archive, dir: dir}
}

// config is the Configure call for a namespace of this env.
func (e testEnv) config(namespace string) base.Config {
	return base.Config{
		NodeName: "test",
		DataDir:  filepath.Join(e.dir, "data"),
		Settings: map[string]string{SettingAddress: e.socket, SettingNamespace: namespace},
	}
}

// runtime makes and configures a Runtime that is closed when the test ends.
func (e testEnv) runtime(t *testing.T, namespace string) *Runtime {
	t.Helper()
	r := New()
	t.Cleanup(func() { r.Close() })
	if err := r.Configure(testCtx(t), e.config(namespace)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return r
}

// importImage imports the test image into r.
func (e testEnv) importImage(t *testing.T, r runtime.Runtime) {
	t.Helper()
	f, err := os.Open(e.archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := r.ImportImages(testCtx(t), f); err != nil {
		t.Fatalf("ImportImages: %v", err)
	}
}

// registry serves the test image on the loopback and returns its host.
func (e testEnv) registry(t *testing.T) string {
	t.Helper()
	reg, err := testimage.NewRegistry(e.archive)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
