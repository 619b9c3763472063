package containerdruntime

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/test/testimage"
)

// The test environment (root, a private containerd) is test/testenv's,
// which imports this package (for TeardownNode), so the tests inside it
// cannot import it back. The external test package hands its functions in
// (env_external_test.go) before the tests run.
var (
	EnvRequireRoot func(testing.TB)
	EnvContainerd  func(testing.TB) string
)

// testRef is the busybox image the tests build and import.
const testRef = "skiff.test/busybox:1"

// testEnv is a containerd for one test, the busybox archive, a data dir
// and the log driver.
type testEnv struct {
	socket  string
	archive string
	dir     string
	driver  string
}

func newTestEnv(t *testing.T) testEnv {
	t.Helper()
	EnvRequireRoot(t)
	socket := EnvContainerd(t)
	driver := testLogDriver(t)
	dir := t.TempDir()
	// Runs before the temp dir is removed, which a mount left in it would
	// stop: every sandbox must have been removed by now, with its
	// namespace files.
	t.Cleanup(func() { unmountLeftovers(t, dir) })
	archive, err := testimage.BusyboxArchive(dir, testRef)
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	return testEnv{socket: socket, archive: archive, dir: dir, driver: driver}
}

// config is the Configure call for a namespace of this env.
func (e testEnv) config(namespace string) base.Config {
	return base.Config{
		NodeName: "test",
		DataDir:  filepath.Join(e.dir, "data"),
		Settings: map[string]string{SettingAddress: e.socket, SettingNamespace: namespace, SettingLogDriver: e.driver},
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

// unmountLeftovers detaches every mount at or below dir, deepest first. A
// leftover fails a test that has not failed otherwise: removing sandboxes
// must unmount their namespaces.
func unmountLeftovers(t *testing.T, dir string) {
	for _, p := range mountsUnder(t, dir) {
		if !t.Failed() {
			t.Errorf("mount %s was left behind", p)
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", p, err)
		}
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}
