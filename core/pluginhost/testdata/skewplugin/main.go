// Command skewplugin is a scheduler plugin that speaks only a future API
// version (99), for the host's version-skew test.
package main

import (
	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

func main() {
	base.Serve(base.KindScheduler, map[int]plugin.Plugin{99: &scheduler.GRPCPlugin{Impl: binpack.New()}})
}
