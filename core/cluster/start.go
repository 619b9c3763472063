package cluster

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/core/containerdproc"
)

// Start brings a cluster back after some of its processes died, or after a
// reboot of the machine took them and its network with them: it makes
// what is missing of the node network, starts the cluster's own containerd
// if it is not running, then the control plane and the agents that are
// not running, with the arguments they were first started with, and waits
// for every node to be Ready. Nothing that runs is touched, so Start on a
// healthy cluster only checks it. Pods come back as Kubernetes brings them
// back after a kubelet restart: agents re-adopt running containers (the
// same containers, no restart), and restart per restartPolicy those that
// did not survive. progress (may be nil) gets one line per step.
func Start(ctx context.Context, root, name string, timeout time.Duration, progress io.Writer) (*State, error) {
	s, err := Load(root, name)
	if err != nil {
		return nil, err
	}
	say := func(format string, args ...any) {
		if progress != nil {
			fmt.Fprintf(progress, format+"\n", args...)
		}
	}
	if err := s.makeNetwork(); err != nil {
		return s, fmt.Errorf("cluster %q: node network: %w", s.Name, err)
	}
	if err := s.startContainerdAgain(ctx, say); err != nil {
		return s, err
	}
	if err := s.startControlPlaneAgain(ctx, say); err != nil {
		return s, err
	}
	for _, n := range s.Nodes {
		if alive(n.Agent) {
			continue
		}
		if err := s.RestartAgent(n.Name); err != nil {
			return s, err
		}
		say(" ✓ Started the agent of %s again", n.Name)
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	c, err := s.AdminClient()
	if err != nil {
		return s, err
	}
	defer c.Close()
	if err := s.waitReady(ctx, c, timeout); err != nil {
		return s, err
	}
	say(" ✓ %d nodes Ready", len(s.Nodes))
	return s, nil
}

// startControlPlaneAgain starts the servers (and the load balancer) of
// the control plane that are not running, and waits for them to answer.
func (s *State) startControlPlaneAgain(ctx context.Context, say func(string, ...any)) error {
	if !s.ha() {
		if alive(s.ServerProc) {
			return nil
		}
		p, err := s.restart(s.ServerProc, "")
		if err != nil {
			return fmt.Errorf("cluster %q: control plane: %w", s.Name, err)
		}
		s.ServerProc = p
		if err := s.save(); err != nil {
			return err
		}
		if err := s.waitServer(ctx, s.ServerDataDir, p); err != nil {
			return err
		}
		say(" ✓ Started the control plane again (pid %d)", p.PID)
		return nil
	}
	// Every dead server at once: their etcd members need each other.
	var restarted []NodeState
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.ServerDataDir == "" || alive(n.Server) {
			continue
		}
		p, err := s.restart(n.Server, n.NetNS)
		if err != nil {
			return fmt.Errorf("cluster %q: server of %s: %w", s.Name, n.Name, err)
		}
		n.Server = p
		if err := s.save(); err != nil {
			return err
		}
		restarted = append(restarted, *n)
	}
	if !alive(s.LoadBalancer) {
		p, err := s.restart(s.LoadBalancer, "")
		if err != nil {
			return fmt.Errorf("cluster %q: load balancer: %w", s.Name, err)
		}
		s.LoadBalancer = p
		if err := s.save(); err != nil {
			return err
		}
		say(" ✓ Started the load balancer again (pid %d)", p.PID)
	}
	for _, n := range restarted {
		if err := s.waitServer(ctx, n.ServerDataDir, n.Server); err != nil {
			return fmt.Errorf("server of %s: %w", n.Name, err)
		}
		say(" ✓ Started the server of %s again (pid %d)", n.Name, n.Server.PID)
	}
	return s.waitServer(ctx, s.ServerDataDir, s.LoadBalancer)
}

// restart starts a dead process again with its recorded command line, in
// the network namespace netns ("" = the host's), after ending what is
// left of its process group (a server's scheduler plugin).
func (s *State) restart(p Proc, netns string) (Proc, error) {
	if len(p.Args) == 0 {
		return Proc{}, fmt.Errorf("its command line was not recorded; delete and create the cluster")
	}
	killGroupLeftovers(p)
	return startProc(s.Skiffd, p.Args, p.Log, netns)
}

// startContainerdAgain starts the containerd the cluster made for itself
// (state under its directory) when it is not running; containers whose
// shims outlived it are found again. A containerd the cluster was given
// (--containerd-socket) must answer: it is not the cluster's to start.
func (s *State) startContainerdAgain(ctx context.Context, say func(string, ...any)) error {
	if s.Containerd.PID == 0 {
		if !containerdproc.Answers(s.ContainerdSocket) {
			return fmt.Errorf("cluster %q: no containerd answers on %s, which the cluster was created with; start it first", s.Name, s.ContainerdSocket)
		}
		return nil
	}
	if alive(s.Containerd) {
		return nil
	}
	p, err := containerdproc.Start(ctx, filepath.Join(s.Dir, "containerd"))
	if err != nil {
		return fmt.Errorf("cluster %q: %w", s.Name, err)
	}
	s.ContainerdSocket = p.Socket
	s.Containerd = Proc{PID: p.PID(), StartTime: startTime(p.PID())}
	if err := s.save(); err != nil {
		return err
	}
	say(" ✓ Started containerd again (pid %d)", p.PID())
	return nil
}

// Status is how much of a cluster runs: "Running" when every process it
// needs does, "Stopped" when none does, else "Degraded (k/n)".
func (s *State) Status() string {
	procs := s.controlPlaneProcs()
	if s.Containerd.PID != 0 {
		procs = append(procs, s.Containerd)
	}
	for _, n := range s.Nodes {
		procs = append(procs, n.Agent)
	}
	up := 0
	for _, p := range procs {
		if alive(p) {
			up++
		}
	}
	switch up {
	case len(procs):
		return "Running"
	case 0:
		return "Stopped"
	}
	return fmt.Sprintf("Degraded (%d/%d)", up, len(procs))
}

// isNetNS reports whether path is a mounted network namespace (what `ip
// netns add` leaves in /run/netns), not a stale file after a reboot.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
