// Package cmd is skiffd's command line.
package cmd

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/daemon"
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
	root.AddCommand(newDev(out), newServer(out), newAgent(), newVersion(out))
	return root
}

// commonFlags binds the flags every mode shares.
func commonFlags(cmd *cobra.Command, o *daemon.Options) {
	f := cmd.Flags()
	f.StringVar(&o.DataDir, "data-dir", "/var/lib/skiff", "directory for all state (etcd, certificates, plugin state, logs)")
	f.StringVar(&o.PluginDir, "plugin-dir", "", "directory of plugin binaries (default: beside skiffd)")
	f.StringVar(&o.ClusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod network of the whole cluster")
}

func agentFlags(cmd *cobra.Command, o *daemon.Options, backoff *time.Duration, insecure *[]string) {
	f := cmd.Flags()
	f.StringVar(&o.NodeName, "node-name", "", "this node's name (default: the host name)")
	f.StringVar(&o.NodeIP, "node-ip", "127.0.0.1", "this node's address, where the API server reaches its agent")
	f.StringVar(&o.AgentListen, "agent-listen", "", "address the agent serves the API server on (default NODE-IP:0)")
	f.StringVar(&o.ContainerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "containerd to use; when nothing answers there, skiffd starts its own under the data dir")
	f.DurationVar(backoff, "backoff-base", 10*time.Second, "first container restart / image pull back-off (Kubernetes: 10s); doubles up to 5m")
	f.StringSliceVar(insecure, "insecure-registry", nil, "registry host:port pulled from over plain HTTP (repeatable)")
	f.StringVar(&o.PodBridge, "pod-bridge", "", "name of the node's pod bridge (default skiff0)")
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
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:6443", "API server address")
	cmd.Flags().BoolVar(&noUserConfig, "no-user-config", false, "do not write the admin config to ~/.skiff/config")
	return cmd
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
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:6443", "API server address")
	cmd.Flags().StringVar(&endpoints, "etcd-endpoints", "", "comma-separated URLs of an external etcd cluster")
	cmd.Flags().BoolVar(&o.WriteUserConfig, "user-config", false, "also merge the admin config into ~/.skiff/config")
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
	return cmd
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
