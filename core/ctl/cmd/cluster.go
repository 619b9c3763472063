package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/cluster"
)

// ClusterOptions are the options of `skiffctl cluster create|delete|start|ls`.
type ClusterOptions struct {
	IOStreams

	Name         string
	ConfigFile   string
	ImageArchive string
	StateDir     string
	Create       cluster.Options
}

// NewCmdCluster returns `skiffctl cluster`: multi-node clusters on this
// machine, as kind makes them.
func NewCmdCluster(streams IOStreams) *cobra.Command {
	o := &ClusterOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, delete, start and list multi-node clusters on this machine (each node a network namespace)",
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a cluster: a control plane and worker agents, each node in its own network namespace",
		Example: `  # One control-plane node named skiff-control-plane
  skiffctl cluster create

  # A control plane and three workers from a kind config
  skiffctl cluster create --name dev --config kind.yaml --image-archive busybox.tar`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.RunCreate(cmd.Context()) },
	}
	create.Flags().StringVar(&o.Name, "name", "", "cluster name (default: the config's name, else \""+cluster.DefaultName+"\")")
	create.Flags().StringVar(&o.ConfigFile, "config", "", "kind cluster config (kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4)")
	create.Flags().StringVar(&o.ImageArchive, "image-archive", "", "image archive (docker save / OCI tar) to load onto every node")
	create.Flags().StringVar(&o.Create.ContainerdSocket, "containerd-socket", "", "use this containerd instead of starting one for the cluster")
	create.Flags().StringVar(&o.Create.Skiffd, "skiffd", "", "skiffd binary (default: beside skiffctl, then $PATH)")
	create.Flags().StringVar(&o.Create.PluginDir, "plugin-dir", "", "plugin binaries (default: beside skiffd)")
	create.Flags().DurationVar(&o.Create.NodeGracePeriod, "node-grace-period", 0, "how long a node may go without renewing its Lease before it turns NotReady (default 40s)")
	create.Flags().DurationVar(&o.Create.NodeCertTTL, "node-cert-ttl", 0, "lifetime of the nodes' client certificates, renewed by the agents at 70-90% of it (default 8760h)")
	create.Flags().DurationVar(&o.Create.HeartbeatInterval, "heartbeat-interval", 0, "how often agents renew their node's Lease (default 10s; at most half the grace period)")
	create.Flags().DurationVar(&o.Create.Timeout, "wait", 2*time.Minute, "how long to wait for the nodes to be Ready")
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete a cluster and everything it made (processes, containers, namespaces, links, mounts, context)",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.RunDelete(cmd.Context()) },
	}
	del.Flags().StringVar(&o.Name, "name", cluster.DefaultName, "cluster name")
	start := &cobra.Command{
		Use:   "start",
		Short: "Start what is not running of a cluster (its network, containerd, control plane, agents), after a crash or a reboot",
		Example: `  # After the machine rebooted, or an agent was killed
  skiffctl cluster start --name dev`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.RunStart(cmd.Context()) },
	}
	start.Flags().StringVar(&o.Name, "name", cluster.DefaultName, "cluster name")
	start.Flags().DurationVar(&o.Create.Timeout, "wait", 2*time.Minute, "how long to wait for the nodes to be Ready")
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list", "get"},
		Short:   "List the clusters on this machine",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return o.RunList() },
	}
	for _, c := range []*cobra.Command{create, del, start, ls} {
		c.Flags().StringVar(&o.StateDir, "state-dir", "", "directory of the clusters' state (default $"+cluster.EnvStateRoot+", else /var/lib/skiff/clusters)")
	}
	cmd.AddCommand(create, del, start, ls)
	return cmd
}

// interruptible ends ctx on SIGINT/SIGTERM, so Create cleans up.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// RunCreate makes the cluster.
func (o *ClusterOptions) RunCreate(ctx context.Context) error {
	ctx, cancel := interruptible(ctx)
	defer cancel()
	co := o.Create
	co.Name, co.ImageArchive, co.Root, co.Progress = o.Name, o.ImageArchive, o.StateDir, o.Out
	if o.ConfigFile != "" {
		c, err := cluster.LoadConfig(o.ConfigFile)
		if err != nil {
			return err
		}
		co.Config = c
	}
	p, err := clientconfig.ResolvePath("")
	if err != nil {
		return err
	}
	co.UserConfig = p
	st, err := cluster.Create(ctx, co)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Cluster %q is ready: %d nodes, API server %s.\nTry: skiffctl get nodes\n", st.Name, len(st.Nodes), st.Server)
	return nil
}

// RunDelete removes the cluster.
func (o *ClusterOptions) RunDelete(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	fmt.Fprintf(o.Out, "Deleting cluster %q ...\n", o.Name)
	return cluster.Delete(ctx, o.StateDir, o.Name, o.Out)
}

// RunStart starts what is not running of the cluster and waits for its
// nodes to be Ready.
func (o *ClusterOptions) RunStart(ctx context.Context) error {
	ctx, cancel := interruptible(ctx)
	defer cancel()
	fmt.Fprintf(o.Out, "Starting cluster %q ...\n", o.Name)
	st, err := cluster.Start(ctx, o.StateDir, o.Name, o.Create.Timeout, o.Out)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Cluster %q is running: %d nodes, API server %s.\n", st.Name, len(st.Nodes), st.Server)
	return nil
}

// RunList prints the clusters.
func (o *ClusterOptions) RunList() error {
	states, err := cluster.List(o.StateDir)
	if err != nil {
		return err
	}
	if len(states) == 0 {
		fmt.Fprintln(o.ErrOut, "No clusters found.")
		return nil
	}
	w := tabwriter.NewWriter(o.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATUS\tNODES\tSERVER\tAGE")
	for _, s := range states {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", s.Name, s.Status(), len(s.Nodes), s.Server, duration.HumanDuration(time.Since(s.Created)))
	}
	return w.Flush()
}
