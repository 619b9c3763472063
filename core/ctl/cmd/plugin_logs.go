package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

// PluginLogsOptions are the options of `skiffctl plugin logs`.
type PluginLogsOptions struct {
	IOStreams
	f Factory

	Kind   string
	Node   string
	Follow bool
	Tail   int64
}

func newCmdPluginLogs(f Factory, streams IOStreams) *cobra.Command {
	o := &PluginLogsOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "logs KIND [-f] [--node NODE] [--tail N]",
		DisableFlagsInUseLine: true,
		Short:                 "Print the log of a plugin (its stderr and stdout, and what skiff logged about it)",
		Example: `  # The scheduler plugin's log (it runs in the server)
  skiffctl plugin logs scheduler

  # Follow the runtime plugin of node worker-1
  skiffctl plugin logs runtime -f --node worker-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Node, "node", "", "The node whose plugin to read (default: the only node; the server for the scheduler).")
	fl.BoolVarP(&o.Follow, "follow", "f", false, "Specify if the log should be streamed.")
	fl.Int64Var(&o.Tail, "tail", -1, "Lines of recent log to display. Defaults to -1, showing all log lines.")
	return cmd
}

// Complete reads KIND.
func (o *PluginLogsOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf(cmd.CommandPath(), "expected 'plugin logs KIND [-f] [--node NODE]': KIND is one of scheduler, runtime, network, probes, volumes")
	}
	o.Kind = args[0]
	return nil
}

// Validate checks --tail.
func (o *PluginLogsOptions) Validate() error {
	if o.Tail < -1 {
		return fmt.Errorf("--tail must be greater than or equal to -1")
	}
	return nil
}

// Run streams the log to Out.
func (o *PluginLogsOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	stream, err := c.API.PluginLogs(ctx, &apipb.PluginLogsRequest{Node: o.Node, Kind: o.Kind, Follow: o.Follow, TailLines: o.Tail})
	if err != nil {
		return api.FromGRPC(err)
	}
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while following
			}
			return api.FromGRPC(err)
		}
		if _, err := o.Out.Write(chunk.Data); err != nil {
			return err
		}
	}
}
