package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/nodeclean"
	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/sdk/base"
)

// Delete removes cluster name under root ("" = StateRoot()) and everything
// it made.
func Delete(ctx context.Context, root, name string, progress io.Writer) error {
	s, err := Load(root, name)
	if err != nil {
		return err
	}
	return s.delete(ctx, progress)
}

// delete undoes Create, step by step, going on after a failed step; it is
// safe to run again.
func (s *State) delete(ctx context.Context, progress io.Writer) error {
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	var errs []error
	// Agents first (they would restart what we remove), then the server.
	var procs []Proc
	for _, n := range s.Nodes {
		procs = append(procs, n.Agent)
	}
	stopAll(procs)
	stopAll(s.controlPlaneProcs())
	say(" ✓ Stopped %d agents and the control plane", len(s.Nodes))
	if s.ContainerdSocket != "" {
		if err := s.removeContainers(ctx); err != nil {
			errs = append(errs, err)
		} else {
			say(" ✓ Removed the nodes' containers")
		}
	}
	for _, n := range s.Nodes {
		if err := containerdruntime.TeardownNode(filepath.Join(n.DataDir, "plugins", "runtime")); err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", n.Name, err))
		}
		if err := teardownNodeNetwork(ctx, &n); err != nil {
			errs = append(errs, fmt.Errorf("node %q: %w", n.Name, err))
		}
	}
	if s.Containerd.PID != 0 {
		stopAll([]Proc{s.Containerd})
		nodeclean.KillShims(s.ContainerdSocket)
	}
	if _, err := nodeclean.UnmountUnder(s.Dir); err != nil {
		errs = append(errs, err)
	}
	for _, n := range s.Nodes {
		if fileExists(netnsPath(n.NetNS)) {
			if err := ip("netns", "delete", n.NetNS); err != nil {
				errs = append(errs, err)
			}
		}
		// Deleting the namespace deletes the veth pair (asynchronously).
		if linkExists(n.HostVeth) {
			if err := ip("link", "delete", n.HostVeth); err != nil && linkExists(n.HostVeth) {
				errs = append(errs, err)
			}
		}
	}
	if linkExists(s.Bridge) {
		if err := ip("link", "delete", s.Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	say(" ✓ Removed the node network")
	if err := s.removeUserContext(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete cluster %q (state kept in %s; run delete again): %w", s.Name, s.Dir, err)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("delete cluster %q: %w", s.Name, err)
	}
	say(" ✓ Deleted cluster %q", s.Name)
	return nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// teardownNodeNetwork runs the network plugin's TeardownNode for the node,
// in process, inside the node's namespace (the overlay's "netns" setting).
func teardownNodeNetwork(ctx context.Context, n *NodeState) error {
	if !fileExists(netnsPath(n.NetNS)) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	o := overlay.New()
	cfg := base.Config{DataDir: filepath.Join(n.DataDir, "plugins", "network"), Settings: map[string]string{overlay.SettingNetNS: netnsPath(n.NetNS)}}
	if err := o.Configure(ctx, cfg); err != nil {
		return fmt.Errorf("tear down node network: configure: %w", err)
	}
	if err := o.TeardownNode(ctx); err != nil {
		return fmt.Errorf("tear down node network: %w", err)
	}
	return nil
}

// removeContainers deletes every task and container (and image) in the
// nodes' containerd namespaces, then the namespaces.
func (s *State) removeContainers(ctx context.Context) error {
	c, err := containerd.New(s.ContainerdSocket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("containerd %s: %w", s.ContainerdSocket, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var errs []error
	for _, n := range s.Nodes {
		if _, err := nodeclean.RemoveContainers(ctx, c, n.RuntimeNamespace, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// startTime is field 22 of /proc/PID/stat (0 when the process is gone).
func startTime(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from the
	// closing parenthesis.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// procState is field 3 of /proc/PID/stat ("" when gone).
func procState(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// alive: the process is running and is the one recorded (not a zombie,
// not a later process with the same PID).
func alive(p Proc) bool {
	if p.PID <= 0 {
		return false
	}
	st := procState(p.PID)
	if st == "" || st == "Z" || st == "X" {
		return false
	}
	return p.StartTime == 0 || startTime(p.PID) == p.StartTime
}

// Alive reports whether the recorded process still runs.
func (p Proc) Alive() bool { return alive(p) }

// stopAll sends SIGTERM to the process groups (each was started as a
// session leader, its plugins in its group) of the live processes, waits
// up to 10s, then SIGKILLs what is left.
func stopAll(procs []Proc) {
	var live []Proc
	for _, p := range procs {
		if alive(p) {
			live = append(live, p)
			_ = syscall.Kill(-p.PID, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(live) > 0 && time.Now().Before(deadline) {
		var still []Proc
		for _, p := range live {
			if alive(p) {
				still = append(still, p)
			}
		}
		live = still
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range live {
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	}
	for _, p := range procs {
		killGroupLeftovers(p)
	}
}

// killGroupLeftovers kills what is left of the process group of p (its
// plugins, when p was SIGKILLed and left them behind), matched by group ID
// and session so that nothing else is touched.
func killGroupLeftovers(p Proc) {
	if p.PID <= 0 {
		return
	}
	entries, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range entries {
		data, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 {
			continue
		}
		// f[0] state, f[1] ppid, f[2] pgrp, f[3] session
		if f[3] != strconv.Itoa(p.PID) || f[2] != strconv.Itoa(p.PID) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		if err != nil || f[0] == "Z" {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// LoadImages streams an image archive to the server for every node.
func LoadImages(ctx context.Context, c *client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	defer f.Close()
	stream, err := c.API.LoadImages(ctx)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, api.FromGRPC(err))
	}
	buf := make([]byte, 1<<20)
	first := true
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 || first {
			if err := stream.Send(&apipb.ImageChunk{Data: append([]byte(nil), buf[:n]...)}); err != nil {
				if err == io.EOF {
					break
				}
				return fmt.Errorf("load %s: %w", path, api.FromGRPC(err))
			}
			first = false
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("load %s: %w", path, rerr)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("load %s: %w", path, api.FromGRPC(err))
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("load %s: %s", path, strings.Join(resp.Errors, "; "))
	}
	return nil
}
