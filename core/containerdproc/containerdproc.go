// Package containerdproc starts containerd for skiffd when none answers on
// the configured socket: a child process with its root, state and socket
// under skiffd's data dir. Containers outlive it (they belong to shims) and
// are found again when it is started on the same directories.
package containerdproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Answers reports whether something accepts connections on the socket.
func Answers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Process is a containerd started by skiffd.
type Process struct {
	cmd    *exec.Cmd
	Socket string
	exited chan struct{}
}

// Start runs containerd with everything under dir and waits for its socket.
func Start(ctx context.Context, dir string) (*Process, error) {
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, fmt.Errorf("containerd is not installed (apt-get install containerd runc): %w", err)
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("containerd dir %s: %w", dir, err)
	}
	socket := filepath.Join(dir, "containerd.sock")
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("write containerd config: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("containerd log: %w", err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: a Ctrl-C to skiffd is handled by skiffd, which
	// then stops containerd itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	p := &Process{cmd: cmd, Socket: socket, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !Answers(socket) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("containerd exited at start; see %s", filepath.Join(dir, "containerd.log"))
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("containerd did not answer on %s within 30s", socket)
		}
	}
	return p, nil
}

// PID is the containerd process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop ends containerd (SIGTERM, then SIGKILL after 10 s). Running
// containers are not touched.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
