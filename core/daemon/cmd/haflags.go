package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/daemon"
)

// etcdMemberFlags are `skiffd server`'s flags for an embedded etcd member
// of several servers (etcd's --name, --initial-cluster and
// --listen-peer-urls, prefixed); daemon checks them together before
// anything starts.
func etcdMemberFlags(cmd *cobra.Command, o *daemon.Options) {
	f := cmd.Flags()
	f.StringVar(&o.EtcdName, "etcd-name", "", "this server's member of --etcd-initial-cluster (etcd's --name)")
	f.StringVar(&o.EtcdInitialCluster, "etcd-initial-cluster", "",
		"embedded etcd members of every server, NAME=https://IP:PORT,... (etcd's --initial-cluster); peers talk TLS with certificates of the cluster CA, which every server must share. "+
			"Read at the first start only: later starts use the membership in the data dir. Empty: a single member on loopback")
	f.StringVar(&o.EtcdPeerListen, "etcd-peer-listen", "", "IP:PORT this server's member listens on for its peers, e.g. 0.0.0.0:2380 (default: its URL in --etcd-initial-cluster)")
	f.StringVar(&o.EtcdInitialClusterState, "etcd-initial-cluster-state", "new",
		"new: the members of --etcd-initial-cluster start together; existing: this member was added to a running cluster with 'skiffctl etcd member add', which printed the --etcd-initial-cluster to use (etcd's --initial-cluster-state)")
}

// tlsSANsFlag is --tls-san: IPs and DNS names, comma-separated and
// repeatable, checked as they are given.
type tlsSANsFlag struct{ sans *[]string }

func (f *tlsSANsFlag) String() string { return strings.Join(*f.sans, ",") }
func (f *tlsSANsFlag) Type() string   { return "strings" }

func (f *tlsSANsFlag) Set(v string) error {
	entries := strings.Split(v, ",")
	if _, _, err := daemon.ParseTLSSANs(entries); err != nil {
		return err
	}
	*f.sans = append(slices.Clone(*f.sans), entries...)
	return nil
}
