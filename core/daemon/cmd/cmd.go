// Package cmd is skiffd's command line.
package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/agent"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/daemon"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/store"
	"github.com/skiffhq/skiff/core/version"
)

// NewRoot builds the skiffd command.
func NewRoot(out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "skiffd",
		Short:         "skiff's daemon: API server, controllers and node agent",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDev(out), newServer(out), newAgent(), newVersion(out), newRotateEncryptionKey(out), newPKI(out), newReset(out), newLoadBalancer(out, errOut))
	return root
}

// commonFlags binds the flags every mode shares.
func commonFlags(cmd *cobra.Command, o *daemon.Options) {
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "/var/lib/skiff", "directory for all state (etcd, certificates, plugin state, logs)")
	f.StringVar(&o.PluginDir, "plugin-dir", "", "directory of plugin binaries (default: beside skiffd)")
	f.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod network of the whole cluster")
	f.StringVar(&o.ConfigFile, "config", "", "skiffd config file: plugin directory and profiles choosing each kind's plugin and settings")
	f.StringVar(&o.Profile, "profile", "", "profile of the --config file to run (default: its defaultProfile, else skiff's default plugins)")
}

func agentFlags(cmd *cobra.Command, o *daemon.Options, backoff *time.Duration, insecure *[]string) {
	f := cmd.Flags()
	f.StringVar(&o.NodeName, "node-name", "", "this node's name (default: the host name)")
	f.StringVar(&o.NodeIP, "node-ip", "127.0.0.1", "this node's address, where the API server reaches its agent")
	f.StringVar(&o.AgentListen, "agent-listen", "", "address the agent serves the API server on (default NODE-IP:0)")
	f.StringVar(&o.ContainerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "containerd to use; when nothing answers there, skiffd starts its own under the data dir")
	f.DurationVar(backoff, "backoff-base", 10*time.Second, "first container restart / image pull back-off (Kubernetes: 10s); doubles up to 5m")
	f.StringSliceVar(insecure, "insecure-registry", nil, "registry host:port pulled from over plain HTTP (repeatable)")
	f.BoolVar(&o.AllowPrivileged, "allow-privileged", false, "let pods run privileged containers on this node")
	f.BoolVar(&o.AllowHostPath, "allow-host-path", false, "let pods mount hostPath volumes (directories and files of this node)")
	f.StringVar(&o.PodBridge, "pod-bridge", "", "name of the node's pod bridge (default skiff0)")
	f.StringSliceVar(&o.NodeRoles, "node-role", nil, "role of this node, shown by get nodes (repeatable; node-role.kubernetes.io/<role> label)")
	f.Var(&taintsFlag{taints: &o.RegisterWithTaints}, "register-with-taints",
		"taints of this node when its agent registers it, comma-separated key=value:Effect or key:Effect, Effect NoSchedule, PreferNoSchedule or NoExecute "+
			"(as the kubelet's; a node that is already registered keeps its taints)")
	f.StringVar(&o.RuntimeNamespace, "runtime-namespace", "", "containerd namespace of this node's images and containers (default skiff)")
	f.DurationVar(&o.HeartbeatInterval, "heartbeat-interval", 10*time.Second, "how often the agent renews its node's Lease (its heartbeat)")
	f.DurationVar(&o.SyncFrequency, "sync-frequency", agent.DefaultSyncFrequency,
		"how often the agent syncs a pod whose containers all run (or are done) when nothing happened to it; changes of its containers (within 1s), of the pod, and of its ConfigMaps and Secrets are acted on at once (as the kubelet's)")
}

// taintsFlag is --register-with-taints: comma-separated taints, and
// repeatable; daemon.ParseTaints checks them as they are given, so a bad
// entry stops skiffd before anything starts.
type taintsFlag struct {
	entries []string
	taints  *[]corev1.Taint
}

func (f *taintsFlag) String() string { return strings.Join(f.entries, ",") }
func (f *taintsFlag) Type() string   { return "taints" }

func (f *taintsFlag) Set(v string) error {
	entries := f.entries
	if v != "" {
		entries = append(slices.Clone(entries), strings.Split(v, ",")...)
	}
	taints, err := daemon.ParseTaints(strings.Join(entries, ","))
	if err != nil {
		return err
	}
	f.entries, *f.taints = entries, taints
	return nil
}

func newDev(out io.Writer) *cobra.Command {
	var o daemon.Options
	var noUserConfig bool
	var insecure []string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run an all-in-one cluster on this host: embedded etcd, API server, scheduler and one node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.WriteUserConfig = !noUserConfig
			o.PlainHTTPRegistries = insecure
			return daemon.RunDev(cmd.Context(), o, func(adminConfig string) {
				fmt.Fprintf(out, "skiff is running. API server: %s\nAdmin config: %s", o.Listen, adminConfig)
				if o.WriteUserConfig {
					fmt.Fprint(out, " (also merged into ~/.skiff/config)")
				}
				fmt.Fprintln(out, "\nTry: skiffctl get nodes")
			})
		},
	}
	commonFlags(cmd, &o)
	agentFlags(cmd, &o, &o.BackoffBase, &insecure)
	serverFlags(cmd, &o)
	cmd.Flags().BoolVar(&noUserConfig, "no-user-config", false, "do not write the admin config to ~/.skiff/config")
	return cmd
}

// serverFlags are the API server's and controllers' flags, shared by
// `skiffd dev` and `skiffd server`.
func serverFlags(cmd *cobra.Command, o *daemon.Options) {
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:6443", "API server address")
	f.StringVar(&o.ServiceCIDR, "service-cidr", "10.96.0.0/12", "range Service ClusterIPs are allocated from")
	f.DurationVar(&o.NodeGracePeriod, "node-grace-period", 40*time.Second, "how long a node may go without renewing its Lease before it turns NotReady (the TTL of node Leases in etcd)")
	f.DurationVar(&o.NodeCertTTL, "node-cert-ttl", 8760*time.Hour, "lifetime of node client certificates, issued at join and renewed by the agents (at 70-90% of it) through CertificateSigningRequests")
	f.Var(&tlsSANsFlag{sans: &o.TLSSANs}, "tls-san", "more IP addresses or DNS names of the API server's certificate, e.g. a load balancer's (comma-separated, repeatable)")
	// kube-controller-manager's leader election flags.
	f.BoolVar(&o.LeaderElect, "leader-elect", true, "elect, among the servers sharing this etcd, the one that runs the controllers and the scheduler (Lease kube-system/skiff-controller-manager)")
	f.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long followers wait, after the last renewal of the leader they saw, before taking over")
	f.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it stops leading")
	f.DurationVar(&o.LeaderRetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often candidates try to acquire the Lease, and the leader to renew it")
}

func newServer(out io.Writer) *cobra.Command {
	var o daemon.Options
	var endpoints string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the API server, scheduler and controllers (etcd embedded unless --etcd-endpoints)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if endpoints != "" {
				o.EtcdEndpoints = strings.Split(endpoints, ",")
			}
			return daemon.RunServer(cmd.Context(), o, func(adminConfig string) {
				fmt.Fprintf(out, "skiff server is running on %s. Admin config: %s\n", o.Listen, adminConfig)
			})
		},
	}
	commonFlags(cmd, &o)
	serverFlags(cmd, &o)
	cmd.Flags().StringVar(&endpoints, "etcd-endpoints", "", "comma-separated URLs of an external etcd cluster")
	etcdMemberFlags(cmd, &o)
	cmd.Flags().BoolVar(&o.WriteUserConfig, "user-config", false, "also merge the admin config into ~/.skiff/config")
	cmd.Flags().DurationVar(&o.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of the bootstrap token made at first start (<data-dir>/join-token); 0 means it never expires")
	return cmd
}

func newAgent() *cobra.Command {
	var o daemon.Options
	var insecure []string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that joins a skiff server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.PlainHTTPRegistries = insecure
			return daemon.RunAgent(cmd.Context(), o)
		},
	}
	commonFlags(cmd, &o)
	agentFlags(cmd, &o, &o.BackoffBase, &insecure)
	cmd.Flags().StringVar(&o.Server, "server", "", "API server address (host:port)")
	cmd.Flags().StringVar(&o.PKIDir, "pki-dir", "", "directory holding the cluster CA (ca.crt, ca.key) used to make this node's credentials")
	cmd.Flags().StringVar(&o.JoinToken, "token", "", "bootstrap token to join with (the server's <data-dir>/join-token, or from skiffctl token create), instead of --pki-dir")
	cmd.Flags().StringVar(&o.CACertHash, "ca-cert-hash", "", "with --token: pin of the server's CA, sha256:<hex> of its public key (printed by skiffd server)")
	return cmd
}

// newRotateEncryptionKey is `skiffd rotate-encryption-key`: a new key for
// secrets at rest, every secret re-encrypted with it, the old keys dropped
// (apiserver.RotateEncryptionKey). The server must be stopped: it holds the
// key list in memory.
func newRotateEncryptionKey(out io.Writer) *cobra.Command {
	var dataDir, endpoints string
	cmd := &cobra.Command{
		Use:   "rotate-encryption-key",
		Short: "Make a new encryption key for secrets at rest and re-encrypt every secret with it (run while skiffd is stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyPath := filepath.Join(dataDir, "pki", apiserver.EncryptionKeysFile)
			if _, err := apiserver.LoadEncryptionKeys(keyPath); err != nil {
				return err
			}
			var cli *clientv3.Client
			if endpoints != "" {
				c, err := embedetcd.Connect(strings.Split(endpoints, ","))
				if err != nil {
					return err
				}
				defer c.Close()
				cli = c
			} else {
				if err := embeddedEtcdIdle(dataDir); err != nil {
					return err
				}
				e, err := embedetcd.Start(cmd.Context(), dataDir)
				if err != nil {
					return err
				}
				defer e.Close()
				cli = e.Client
			}
			r, err := apiserver.RotateEncryptionKey(cmd.Context(), store.New(cli), keyPath)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "new encryption key %s; %d secrets re-encrypted; dropped keys: %s\n", r.NewKey, r.Secrets, strings.Join(r.DroppedKeys, ", "))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the server's data directory (its key file is DIR/pki/"+apiserver.EncryptionKeysFile+")")
	cmd.Flags().StringVar(&endpoints, "etcd-endpoints", "", "comma-separated URLs of the external etcd cluster the server uses (stop every server first)")
	return cmd
}

// embeddedEtcdIdle checks that the embedded etcd of dataDir exists and that
// no running skiffd holds it (etcd's database is flock'ed while open;
// opening it would block).
func embeddedEtcdIdle(dataDir string) error {
	db := filepath.Join(dataDir, "etcd", "member", "snap", "db")
	f, err := os.OpenFile(db, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("no embedded etcd under %s: %w", dataDir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("etcd's database %s is in use: stop skiffd before rotating the key (%w)", db, err)
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

func newVersion(out io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print skiffd's version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(out, "skiffd %s (commit %s)\n", version.Version, version.GitCommit)
		},
	}
}
