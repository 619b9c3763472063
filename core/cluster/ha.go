package cluster

// A cluster with several control-plane nodes is made the way kind makes
// one: every control-plane node runs an API server, and a load balancer
// on the host (kind's external-load-balancer container) is the one
// address agents and users reach, so that any server may die.
//
//   - Each control-plane node runs `skiffd server` in its own network
//     namespace, on NODE-IP:6443, with a member of one etcd cluster
//     embedded ("stacked", as kubeadm says): member NODE, peers on
//     https://NODE-IP:2380, TLS from the cluster CA.
//   - The servers share the cluster CA and the key that encrypts Secrets
//     at rest: Create makes them once and copies them into each server's
//     data dir before any server starts (what kubeadm's --upload-certs
//     distributes).
//   - `skiffd loadbalancer` listens on the bridge address, BRIDGE-IP:6443
//     (what a single control plane listens on), and spreads connections
//     over the servers whose gRPC health check answers SERVING (a server
//     whose etcd member lost quorum does not). Every server's certificate
//     names BRIDGE-IP (--tls-san), so clients verify whichever they reach.
//   - The servers elect, through a Lease, the one that runs the
//     controllers and the scheduler (kube-controller-manager's leader
//     election); a follower takes over when the leader stops renewing.
//
// The load balancer is a single process, as kind's is: `cluster start`
// brings it back.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiffhq/skiff/core/apiserver"
)

// etcdPeerPort is where each control-plane node's etcd member listens for
// its peers (etcd's default).
const etcdPeerPort = "2380"

// serverPort is where each control-plane node's API server listens; the
// load balancer listens on the same port of the bridge address.
const serverPort = "6443"

// ha reports whether the cluster has several control-plane nodes, each
// running a server behind the load balancer.
func (s *State) ha() bool {
	for _, n := range s.Nodes {
		if n.ServerDataDir != "" {
			return true
		}
	}
	return false
}

// controlPlaneProcs are the processes of the control plane: the servers
// (and the load balancer) of an HA cluster, else the one server.
func (s *State) controlPlaneProcs() []Proc {
	if !s.ha() {
		return []Proc{s.ServerProc}
	}
	var procs []Proc
	for _, n := range s.Nodes {
		if n.ServerDataDir != "" {
			procs = append(procs, n.Server)
		}
	}
	return append(procs, s.LoadBalancer)
}

// startHAControlPlane shares the PKI, starts every control-plane node's
// server and the load balancer, and waits until each server answers.
func (s *State) startHAControlPlane(ctx context.Context, o *Options) error {
	if err := s.sharePKI(); err != nil {
		return err
	}
	// All at once: each server's etcd member waits for a quorum of the
	// others before its server can answer.
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.ServerDataDir == "" {
			continue
		}
		p, err := startProc(o.Skiffd, s.haServerArgs(o, n), filepath.Join(s.Dir, "server-"+n.Name+".log"), n.NetNS)
		if err != nil {
			return fmt.Errorf("control-plane node %q: %w", n.Name, err)
		}
		n.Server = p
		if err := s.save(); err != nil {
			return err
		}
	}
	if err := s.startLoadBalancer(); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		if n.ServerDataDir == "" {
			continue
		}
		if err := s.waitServer(ctx, n.ServerDataDir, n.Server); err != nil {
			return fmt.Errorf("control-plane node %q: %w", n.Name, err)
		}
	}
	// And through the load balancer, as everyone else will reach them.
	return s.waitServer(ctx, s.ServerDataDir, s.LoadBalancer)
}

// haServerArgs are control-plane node n's skiffd server arguments.
func (s *State) haServerArgs(o *Options, n *NodeState) []string {
	args := []string{"server", "--data-dir", n.ServerDataDir, "--listen", n.IP + ":" + serverPort,
		"--cluster-cidr", s.ClusterCIDR, "--plugin-dir", o.PluginDir, "--tls-san", s.BridgeIP,
		"--etcd-name", n.Name, "--etcd-initial-cluster", s.etcdInitialCluster(), "--etcd-peer-listen", n.IP + ":" + etcdPeerPort}
	return append(args, o.serverTimingArgs()...)
}

// etcdInitialCluster is etcd's --initial-cluster for the control-plane
// nodes: NAME=https://IP:2380,...
func (s *State) etcdInitialCluster() string {
	var members []string
	for _, n := range s.Nodes {
		if n.ServerDataDir != "" {
			members = append(members, n.Name+"=https://"+n.IP+":"+etcdPeerPort)
		}
	}
	return strings.Join(members, ",")
}

// startLoadBalancer starts `skiffd loadbalancer` on the host, on the
// cluster's server address, in front of the control-plane nodes' servers.
func (s *State) startLoadBalancer() error {
	args := []string{"loadbalancer", "--listen", s.Server, "--ca-file", filepath.Join(s.ServerDataDir, "pki", "ca.crt")}
	for _, n := range s.Nodes {
		if n.ServerDataDir != "" {
			args = append(args, "--backend", n.IP+":"+serverPort)
		}
	}
	p, err := startProc(s.Skiffd, args, filepath.Join(s.Dir, "loadbalancer.log"), "")
	if err != nil {
		return fmt.Errorf("load balancer: %w", err)
	}
	s.LoadBalancer = p
	return s.save()
}

// sharePKI makes the cluster CA and the Secrets encryption key in the
// first server's data dir and copies them into the others'.
func (s *State) sharePKI() error {
	first := filepath.Join(s.ServerDataDir, "pki")
	if _, _, err := apiserver.LoadOrCreateClusterKeys(first); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		if n.ServerDataDir == "" || n.ServerDataDir == s.ServerDataDir {
			continue
		}
		dst := filepath.Join(n.ServerDataDir, "pki")
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return err
		}
		for _, f := range apiserver.ClusterKeyFiles {
			if err := copyFile(filepath.Join(first, f), filepath.Join(dst, f)); err != nil {
				return fmt.Errorf("control-plane node %q: share %s: %w", n.Name, f, err)
			}
		}
	}
	return nil
}

// copyFile copies src to dst with mode 0600 (they are keys).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
