// Command skiff-net-overlay is skiff's default network plugin: a bridge per
// node, pods on veth pairs, host-local addresses, masquerade to the outside.
// See package overlay for how it works.
package main

import (
	"github.com/skiffhq/skiff/plugins/net-overlay/overlay"
	"github.com/skiffhq/skiff/sdk/network"
)

func main() {
	network.Serve(overlay.New())
}
