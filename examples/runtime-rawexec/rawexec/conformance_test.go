package rawexec_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/examples/runtime-rawexec/rawexec"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/runtime/conformance"
)

// TestMain lets this test binary act as rawexec's shim (the runtime runs
// in process here, so the shim binary is the test binary), and fails the
// run when a shim or container process is left behind.
func TestMain(m *testing.M) {
	rawexec.RunShimIfInvoked()
	code := m.Run()
	if kids := children(); len(kids) > 0 && code == 0 {
		fmt.Fprintf(os.Stderr, "processes left behind after the tests: %s\n", strings.Join(kids, "; "))
		code = 1
	}
	os.Exit(code)
}

// children lists the live and zombie child processes of the test binary.
func children() []string {
	self := strconv.Itoa(os.Getpid())
	var out []string
	for range 50 { // shims may still be exiting after their container
		out = out[:0]
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, path := range stats {
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			s := string(data)
			end := strings.LastIndexByte(s, ')')
			fields := strings.Fields(s[end+1:])
			if len(fields) > 1 && fields[1] == self {
				out = append(out, s[:end+1]+" "+fields[0])
			}
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out
}

// testImageRef is the name the suite's archive gives its image.
const testImageRef = "skiff.test/busybox:1"

// imageArchive writes an OCI image layout tar holding testImageRef with
// busybox's config (Cmd ["sh"], a PATH) and an empty layer: rawexec only
// records names and configs; the host's filesystem is every container's.
func imageArchive(t testing.TB) string {
	t.Helper()
	blobs := map[string][]byte{}
	add := func(data []byte) (string, int) {
		sum := sha256.Sum256(data)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[d] = data
		return d, len(data)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.Close()
	layerDigest, layerSize := add(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}, "Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest, configSize := add(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := add(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestDigest, "size": manifestSize,
			"annotations": map[string]string{"io.containerd.image.name": testImageRef, "org.opencontainers.image.ref.name": "1"},
		}},
	})
	var out bytes.Buffer
	tw = tar.NewWriter(&out)
	file := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	file("index.json", index)
	for d, data := range blobs {
		file("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// What of the runtime conformance suite applies to rawexec. The suite's
// groups are picked with -run (two levels), and the checks of what rawexec
// deliberately does not do, isolation, are left out with -skip (three
// levels):
//
//   - Mounts, Hostname: no mount or UTS namespace;
//   - Exec/TTYAndResize: no TTYs;
//   - SharedNamespaces/OwnNetwork, SharedMemory, WhileRunning and
//     PortForward/SandboxWithoutNetNS: a sandbox without a network
//     namespace shares the host's network, and there is no IPC namespace
//     (GivenNetwork, a sandbox in the network plugin's namespace, runs);
//   - Security/ReadOnlyRootfs, Capabilities, NoNewPrivileges, Privileged:
//     refused with base.ErrUnsupported (run-as user and group, and
//     runAsNonRoot, run).
const (
	conformanceRun = `^TestConformanceSuite$/^(Info|Configure|ImportImages|ImageStatusNotFound|ImportImagesInvalidArchive|PullImage|` +
		`Sandbox|RunToCompletion|CommandAndArgs|Logs|ListContainersByLabels|StopContainer|Exec|SharedNamespaces|PortForward|` +
		`Security|RemoveContainer|StopPodSandbox|RemovePodSandboxRemovesContainers|MissingImage|UnknownContainer)$`
	conformanceSkip = `^TestConformanceSuite$/^(Exec|SharedNamespaces|PortForward|Security)$/` +
		`^(TTYAndResize|OwnNetwork|SharedMemory|WhileRunning|SandboxWithoutNetNS|ReadOnlyRootfs|Capabilities|NoNewPrivileges|Privileged)$`
	conformanceEnv = "RAWEXEC_RUN_CONFORMANCE"
)

// TestConformance runs the SDK's runtime conformance suite against rawexec,
// through gRPC as the core calls it, with the checks that apply (see
// above). Picking subtests at two depths needs -run and -skip, so the
// suite runs in a child process of this test binary.
func TestConformance(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the suite makes network namespaces: CI must run it as root")
		}
		t.Skip("the suite makes network namespaces: run as root")
	}
	args := []string{"-test.run", conformanceRun, "-test.skip", conformanceSkip, "-test.count", "1", "-test.timeout", "10m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), conformanceEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runtime conformance suite failed (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("runtime conformance suite did not run:\n%s", out)
	}
	t.Logf("runtime conformance suite:\n%s", out)
}

// TestConformanceSuite is the suite itself; TestConformance runs it.
func TestConformanceSuite(t *testing.T) {
	if os.Getenv(conformanceEnv) != "1" {
		t.Skip("run by TestConformance, which picks the checks that apply to rawexec")
	}
	conformance.Run(t, func(*testing.T) runtime.Runtime { return rawexec.New() }, conformance.Options{
		ImageArchive: imageArchive(t),
		ImageRef:     testImageRef,
		TempDir:      openTempDir(t),
		Timeout:      20 * time.Second,
	})
}

// openTempDir is a temporary directory other users may traverse: the suite
// runs containers as uid 1000, whose working directory (the sandbox's) is
// in the data directory under it. (t.TempDir is private to root.)
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rawexec-conformance-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
