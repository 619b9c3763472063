package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/runtime/conformance"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// testRef is the busybox image the suite imports and pulls.
const testRef = "skiff.test/busybox:1"

// TestBinary checks the plugin process's Info and runs the conformance
// suite against it on a private containerd (or the one
// SKIFF_TEST_CONTAINERD_SOCKET names), with the test image served by a
// registry on the loopback for the pull case. The process is the test
// binary, so the log driver, which the plugin looks for beside its
// executable, is built and named in the log_driver setting.
func TestBinary(t *testing.T) {
	plugintest.SkipIfShort(t, "starts containerd and builds the log driver")
	testenv.RequireRoot(t)
	socket := testenv.Containerd(t)
	dir := t.TempDir()
	// Runs before the temp dir is removed: every sandbox must have been
	// removed by now, with its namespace files.
	t.Cleanup(func() { unmountLeftovers(t, dir) })
	driver := filepath.Join(dir, containerdruntime.LogDriverName)
	if err := goBuild(driver, "github.com/skiffhq/skiff/plugins/runtime-containerd/logdriver"); err != nil {
		t.Fatal(err)
	}
	archive, err := testimage.BusyboxArchive(dir, testRef)
	if err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	reg, err := testimage.NewRegistry(archive)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	conformance.RunBinary(t, "runtime-containerd", conformance.Options{
		ImageArchive: archive,
		ImageRef:     testRef,
		TempDir:      dir,
		Settings: map[string]string{
			containerdruntime.SettingAddress:   socket,
			containerdruntime.SettingNamespace: "skiff-binary",
			containerdruntime.SettingLogDriver: driver,
		},
		Pull: &conformance.PullCase{Ref: host + "/busybox:1", PlainHTTPRegistries: []string{host}},
	})
}

// goBuild builds pkg into out as `make build` does (without cgo).
func goBuild(out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// unmountLeftovers detaches every mount at or below dir, deepest first. A
// leftover fails a test that has not failed otherwise: removing sandboxes
// must unmount their namespaces.
func unmountLeftovers(t *testing.T, dir string) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Errorf("list the mounts under %s: %v", dir, err)
		return
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i].Mountpoint) > len(ms[j].Mountpoint) })
	for _, m := range ms {
		if !t.Failed() {
			t.Errorf("mount %s was left behind", m.Mountpoint)
		}
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", m.Mountpoint, err)
		}
	}
}
