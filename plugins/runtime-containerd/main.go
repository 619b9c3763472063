// Command runtime-containerd is skiff's runtime plugin for containerd.
//
// Containers' output goes to their log files through a separate, small
// binary, skiff-log-driver (./logdriver), which the containerd shim runs
// once per container; the plugin finds it beside its own executable (the
// log_driver setting overrides that). See containerdruntime.
package main

import (
	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func main() {
	runtime.Serve(containerdruntime.New())
}
