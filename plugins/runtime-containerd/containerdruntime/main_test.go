package containerdruntime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// binDir holds binaries the tests build: the log driver, and the plugin.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skiff-runtime-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

var (
	buildDriverOnce sync.Once
	driverPath      string
	driverErr       error
)

// testLogDriver builds the log driver (once per test binary) into binDir
// and returns its path, which the tests' Runtimes get as their log_driver
// setting.
func testLogDriver(t testing.TB) string {
	t.Helper()
	buildDriverOnce.Do(func() {
		driverPath = filepath.Join(binDir, LogDriverName)
		driverErr = goBuild(driverPath, "github.com/skiffhq/skiff/plugins/runtime-containerd/logdriver")
	})
	if driverErr != nil {
		t.Fatalf("build the log driver: %v", driverErr)
	}
	return driverPath
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
