package cmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

// PluginReloadOptions are the options of `skiffctl plugin reload`.
type PluginReloadOptions struct {
	IOStreams
	f Factory

	Kind string
	Node string
}

func newCmdPluginReload(f Factory, streams IOStreams) *cobra.Command {
	o := &PluginReloadOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "reload KIND [--node NODE]",
		DisableFlagsInUseLine: true,
		Short:                 "Restart a plugin from its binary (to pick up a new build) without restarting any container",
		Long: `Restart a plugin from its binary, to pick up a new build of it, without
restarting any container: the new process is started and configured, skiff
replays its state into it, and only then is the old process stopped. If the
new binary cannot start, the old process keeps serving and the error says why.`,
		Example: `  # Upgrade the runtime plugin of the only node after replacing its binary
  skiffctl plugin reload runtime

  # Reload the scheduler (it runs in the server)
  skiffctl plugin reload scheduler`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(cmd.CommandPath(), "expected 'plugin reload KIND [--node NODE]': KIND is one of scheduler, runtime, network, probes, volumes")
			}
			o.Kind = args[0]
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Node, "node", "", "The node whose plugin to reload (default: the only node; the server for the scheduler).")
	return cmd
}

// Run reloads the plugin and says which process replaced which.
func (o *PluginReloadOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	resp, err := c.API.PluginReload(ctx, &apipb.PluginReloadRequest{Node: o.Node, Kind: o.Kind})
	if err != nil {
		return api.FromGRPC(err)
	}
	p := resp.Plugin
	node := p.GetNode()
	if node == "" {
		node = "<server>"
	}
	fmt.Fprintf(o.Out, "%s plugin %s %s reloaded on %s: pid %d (was %d)\n", p.GetKind(), p.GetName(), p.GetVersion(), node, p.GetPid(), resp.OldPid)
	return nil
}
