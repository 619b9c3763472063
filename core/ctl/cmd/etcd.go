package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// NewCmdEtcd returns `skiffctl etcd member list|add|remove`: the members
// of the servers' embedded etcd, changed through the API server (whose
// members' client endpoints are their loopback), as etcdctl would change
// them; with kubeadm's use: add a member for a new control-plane server,
// remove the member of one taken out for good.
func NewCmdEtcd(f Factory, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "The members of the control plane's embedded etcd",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	member := &cobra.Command{
		Use:   "member",
		Short: "List, add and remove the members of the control plane's embedded etcd",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	member.AddCommand(newCmdEtcdMemberList(f, streams), newCmdEtcdMemberAdd(f, streams), newCmdEtcdMemberRemove(f, streams))
	cmd.AddCommand(member)
	return cmd
}

// EtcdMemberColumns are etcdctl member list's table columns.
var EtcdMemberColumns = []printers.Column{
	{Name: "ID"}, {Name: "Status"}, {Name: "Name"}, {Name: "Peer Addrs"}, {Name: "Client Addrs"}, {Name: "Is Learner"},
}

func newCmdEtcdMemberList(f Factory, streams IOStreams) *cobra.Command {
	var noHeaders bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the members (etcdctl member list -w table); * marks the answering server's",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runEtcdMemberList(cmd.Context(), f, streams, noHeaders)
		},
	}
	cmd.Flags().BoolVar(&noHeaders, "no-headers", false, "Don't print headers.")
	return cmd
}

func runEtcdMemberList(ctx context.Context, f Factory, streams IOStreams, noHeaders bool) error {
	c, err := f.Client()
	if err != nil {
		return err
	}
	resp, err := c.API.EtcdMembers(ctx, &apipb.EtcdMembersRequest{})
	if err != nil {
		return api.FromGRPC(err)
	}
	t := printers.Table{Columns: EtcdMemberColumns}
	for _, m := range resp.Members {
		status, name := "started", m.Name
		if name == "" {
			status = "unstarted"
		} else if name == resp.AnsweredBy {
			name += "*"
		}
		t.Rows = append(t.Rows, printers.Row{Cells: []string{
			strconv.FormatUint(m.Id, 16), status, orNone(name), strings.Join(m.PeerUrls, ","), orNone(strings.Join(m.ClientUrls, ",")),
			strconv.FormatBool(m.IsLearner),
		}})
	}
	tw := printers.NewTabWriter(streams.Out)
	if err := (&printers.TablePrinter{Options: printers.TableOptions{NoHeaders: noHeaders}}).Print(tw, t); err != nil {
		return err
	}
	return tw.Flush()
}

func newCmdEtcdMemberAdd(f Factory, streams IOStreams) *cobra.Command {
	var peerURL string
	cmd := &cobra.Command{
		Use:   "add NAME --peer-urls https://IP:PORT",
		Short: "Add a member for a new control-plane server, and print the flags it must first start with",
		Args:  exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if peerURL == "" {
				return &UsageError{Cmd: cmd.CommandPath(), Msg: "--peer-urls is required: the new member's https://IP:PORT"}
			}
			c, err := f.Client()
			if err != nil {
				return err
			}
			resp, err := c.API.EtcdMemberAdd(cmd.Context(), &apipb.EtcdMemberAddRequest{Name: args[0], PeerUrl: peerURL})
			if err != nil {
				return api.FromGRPC(err)
			}
			fmt.Fprintf(streams.Out, "Member %s added to the cluster with ID %x, as a learner\n\n", args[0], resp.Member.Id)
			fmt.Fprintf(streams.Out, "Start the new server on an empty data dir holding the cluster's pki/ca.crt, ca.key and encryption-keys.json,\n"+
				"with these flags; its member becomes a voting one once it has caught up:\n")
			fmt.Fprintf(streams.Out, "  --etcd-name %s --etcd-initial-cluster %s --etcd-initial-cluster-state existing\n", args[0], resp.InitialCluster)
			return nil
		},
	}
	cmd.Flags().StringVar(&peerURL, "peer-urls", "", "the new member's peer URL, https://IP:PORT (etcdctl's flag name; one URL)")
	return cmd
}

func newCmdEtcdMemberRemove(f Factory, streams IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME|ID",
		Short: "Remove a member (of a server taken out for good); ask through another server than its own",
		Args:  exactArgs(1, "NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.Client()
			if err != nil {
				return err
			}
			resp, err := c.API.EtcdMemberRemove(cmd.Context(), &apipb.EtcdMemberRemoveRequest{Member: args[0]})
			if err != nil {
				return api.FromGRPC(err)
			}
			fmt.Fprintf(streams.Out, "Member %x (%s) removed from the cluster\n", resp.Removed.Id, orNone(resp.Removed.Name))
			return nil
		},
	}
}
