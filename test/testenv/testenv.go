// Package testenv gives tests the machine they need: root, and a containerd
// to talk to. It is a normal package for _test.go files of any package.
//
// What a test cannot have is skipped with the reason, except in CI (CI set in
// the environment), where it fails: CI is expected to provide it.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/core/nodeclean"
)

// SocketEnv names a containerd socket to use instead of starting one.
const SocketEnv = "SKIFF_TEST_CONTAINERD_SOCKET"

// ContainerdBinary is the daemon Containerd starts when no socket is given.
var ContainerdBinary = "/usr/bin/containerd"

// unavailable skips the test, or fails it in CI, where everything a test
// needs must be there.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", msg)
	}
	t.Skip(msg)
}

// RequireRoot skips (fails in CI) a test not running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "test needs root (running as uid %d)", os.Geteuid())
	}
}

// Containerd returns the address of a containerd socket for the test. If
// SKIFF_TEST_CONTAINERD_SOCKET is set and answers, that daemon is used as
// it is. Otherwise a private containerd is started as a child (root, state
// and sockets in a fresh temp dir, CRI plugin disabled) and, when the test
// ends, every container left in it is removed, the daemon is stopped and
// waited for, stray shims are killed and leftover mounts are unmounted.
func Containerd(t testing.TB) (socket string) {
	t.Helper()
	if sock := os.Getenv(SocketEnv); sock != "" {
		if err := ping(sock, 3*time.Second); err == nil {
			return sock
		} else {
			t.Logf("%s=%s does not answer (%v); starting a private containerd", SocketEnv, sock, err)
		}
	}
	RequireRoot(t)
	bin, err := findContainerd()
	if err != nil {
		unavailable(t, "containerd is not installed: %v", err)
	}
	d, err := startDaemon(bin)
	if err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() { d.stop(t) })
	if err := d.waitReady(30 * time.Second); err != nil {
		t.Fatalf("containerd (%s) did not come up: %v\nits log:\n%s", bin, err, d.logTail())
	}
	return d.socket
}

func findContainerd() (string, error) {
	if _, err := os.Stat(ContainerdBinary); err == nil {
		return ContainerdBinary, nil
	}
	return exec.LookPath("containerd")
}

// ping dials socket and asks for containerd's version.
func ping(socket string, timeout time.Duration) error {
	c, err := containerd.New(socket, containerd.WithTimeout(timeout))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = c.Version(ctx)
	return err
}

// daemon is a containerd child process and its directory.
type daemon struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *os.File
}

// configTemplate keeps everything under one directory; %[1]s is it. The CRI
// plugin is off (it would want CNI), and so are snapshotters this machine
// cannot use anyway.
const configTemplate = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "%[1]s/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`

// Config returns the containerd configuration for a daemon kept in dir.
func Config(dir string) string {
	return fmt.Sprintf(configTemplate, dir)
}

func startDaemon(bin string) (*daemon, error) {
	// A short path: the socket must fit in a unix address (108 bytes).
	dir, err := os.MkdirTemp("", "skiff-ctd-")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(Config(dir)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	// If the test binary dies, so does its containerd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := Start(cmd); err != nil {
		log.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	d := &daemon{dir: dir, socket: filepath.Join(dir, "containerd.sock"), cmd: cmd, exited: make(chan struct{}), log: log}
	go func() {
		cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

func (d *daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("containerd exited: %v", d.cmd.ProcessState)
		default:
		}
		if _, err := os.Stat(d.socket); err == nil {
			err := ping(d.socket, 2*time.Second)
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return err
			}
		} else if time.Now().After(deadline) {
			return fmt.Errorf("no socket at %s after %v", d.socket, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (d *daemon) logTail() string {
	data, _ := os.ReadFile(d.log.Name())
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// stop removes what tests left behind, then stops containerd by its PID.
func (d *daemon) stop(t testing.TB) {
	if err := removeAllContainers(d.socket); err != nil {
		t.Logf("cleaning containers out of the test containerd: %v", err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.log.Close()
	killShims(t, d.socket)
	unmountUnder(t, d.dir)
	if err := os.RemoveAll(d.dir); err != nil {
		t.Logf("removing %s: %v", d.dir, err)
	}
}

// removeAllContainers kills and deletes every task and container in every
// namespace of the daemon.
func removeAllContainers(socket string) error {
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		if _, err := nodeclean.RemoveContainers(ctx, c, ns, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killShims kills shims still serving the daemon at socket (they outlive it
// by design) by PID, found through their command line.
func killShims(t testing.TB, socket string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
		if !strings.Contains(args[0], "containerd-shim") || !containsArg(args, socket) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid); err != nil {
			continue
		}
		t.Logf("killing stray shim %d: %s", pid, strings.Join(args, " "))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func containsArg(args []string, want string) bool {
	for _, a := range args {
		if a == want {
			return true
		}
	}
	return false
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		return
	}
	var points []string
	for _, m := range ms {
		points = append(points, m.Mountpoint)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			t.Logf("unmount %s: %v", p, err)
		}
	}
}
