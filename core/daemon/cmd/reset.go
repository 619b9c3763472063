package cmd

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/daemon"
)

// newReset is `skiffd reset`, kubeadm reset's twin: it removes what skiffd
// left on this host for the node of --data-dir (daemon.Reset). The flags
// that say where those things are have the names and defaults of skiffd
// dev's and agent's, so the same values can be passed.
func newReset(out io.Writer) *cobra.Command {
	var r daemon.ResetOptions
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Remove what skiffd made on this host: the node's containers, pod network, mounts and data dir (run while skiffd is stopped)",
		Long: `Remove what skiffd dev, server or agent made on this host, as kubeadm reset does: the
containers of the node's containerd namespace (images are kept), the pod network (through the
network plugin of the node's --config/--profile: pod namespaces, bridge, VXLAN device, iptables
chains, DNS), everything mounted under the data dir, and the data dir itself (etcd data, PKI,
admin.conf). Pass the --data-dir, --containerd-socket, --runtime-namespace, --pod-bridge,
--config and --profile the node ran with.

skiffd must be stopped. Reset asks for confirmation unless --force is given; without a terminal
on standard input it needs --force. Running it again when nothing is left succeeds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r.In, r.Out = cmd.InOrStdin(), out
			return daemon.Reset(cmd.Context(), r)
		},
	}
	commonFlags(cmd, &r.Options)
	// Accepted, so that dev's flags can be passed as they are, but unused.
	_ = cmd.Flags().MarkHidden("cluster-cidr")
	f := cmd.Flags()
	f.StringVar(&r.ContainerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "containerd the node used; the containerd skiffd started under the data dir, if any, is cleaned too")
	f.StringVar(&r.RuntimeNamespace, "runtime-namespace", "", "containerd namespace of the node's images and containers (default skiff)")
	f.StringVar(&r.PodBridge, "pod-bridge", "", "name of the node's pod bridge (default skiff0)")
	f.BoolVar(&r.Force, "force", false, "reset without asking for confirmation (required when standard input is not a terminal)")
	return cmd
}
