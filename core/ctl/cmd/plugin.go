package cmd

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// NewCmdPlugin returns `skiffctl plugin` and its subcommands.
func NewCmdPlugin(f Factory, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Inspect, read the logs of and reload the plugins of the server and the nodes",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdPluginList(f, streams), newCmdPluginLogs(f, streams), newCmdPluginReload(f, streams))
	return cmd
}

// PluginListOptions are the options of `skiffctl plugin ls`.
type PluginListOptions struct {
	IOStreams
	f Factory

	Output    string
	NoHeaders bool
}

func newCmdPluginList(f Factory, streams IOStreams) *cobra.Command {
	o := &PluginListOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the plugins, where they run and how they are doing",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output != "" && o.Output != "wide" {
				return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: wide", o.Output)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format. One of: (wide).")
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", false, "Don't print headers.")
	return cmd
}

// PluginColumns are the columns of `plugin ls`. API is the negotiated
// version of the kind's contract; SINCE is how long the plugin has been in
// its HEALTHY state (for a healthy plugin: how long its process has run);
// HEALTHY is Unknown when the node stopped reporting (its agent is not
// running); MESSAGE (wide) says why a plugin is unhealthy, e.g. a crash
// loop.
var PluginColumns = []printers.Column{
	{Name: "Node"}, {Name: "Kind"}, {Name: "Name"}, {Name: "Version"}, {Name: "API"}, {Name: "PID"},
	{Name: "Restarts"}, {Name: "Healthy"}, {Name: "Since"}, {Name: "Path", Wide: true}, {Name: "Message", Wide: true},
}

// Run prints one row per plugin; plugins of the server have no node.
func (o *PluginListOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	resp, err := c.API.Plugins(ctx, &apipb.PluginsRequest{})
	if err != nil {
		return api.FromGRPC(err)
	}
	plugins := resp.Plugins
	sort.SliceStable(plugins, func(i, j int) bool {
		a, b := plugins[i], plugins[j]
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	now := o.f.Now()
	t := printers.Table{Columns: PluginColumns}
	for _, p := range plugins {
		t.Rows = append(t.Rows, printers.Row{Cells: pluginCells(p, now)})
	}
	if len(t.Rows) == 0 {
		fmt.Fprintln(o.ErrOut, "No plugins found")
		return nil
	}
	tw := printers.NewTabWriter(o.Out)
	tp := &printers.TablePrinter{Options: printers.TableOptions{Wide: o.Output == "wide", NoHeaders: o.NoHeaders}}
	if err := tp.Print(tw, t); err != nil {
		return err
	}
	return tw.Flush()
}

func pluginCells(p *apipb.PluginStatus, now time.Time) []string {
	since := "<unknown>"
	if p.SinceUnix > 0 {
		since = duration.HumanDuration(now.Sub(time.Unix(p.SinceUnix, 0)))
	}
	node := p.Node
	if node == "" {
		node = "<server>"
	}
	healthy := strconv.FormatBool(p.Healthy)
	if p.Unknown { // its node stopped reporting: as Kubernetes' Unknown
		healthy, since = "Unknown", "<unknown>"
	}
	return []string{
		node, p.Kind, p.Name, orNone(p.Version), strconv.Itoa(int(p.ApiVersion)), strconv.FormatInt(p.Pid, 10),
		strconv.Itoa(int(p.Restarts)), healthy, since, orNone(p.Path), orNone(p.Message),
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
