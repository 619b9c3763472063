// Command skiff-net-overlay is skiff's default network plugin: a bridge per
// node, pods on veth pairs, host-local addresses, masquerade to the outside,
// a VXLAN overlay between nodes, service virtual IPs in iptables and
// cluster DNS. See package overlay and docs/network.md for how it works.
package main

import (
	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/sdk/network"
)

func main() {
	network.Serve(overlay.New())
}
