// Command runtime-containerd is skiff's runtime plugin for containerd.
//
// The binary has two roles: normally it serves the plugin to the core; when
// a containerd shim starts it as a container's log driver it copies the
// container's output into its log file instead (see containerdruntime).
package main

import (
	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func main() {
	containerdruntime.RunLoggerIfInvoked()
	runtime.Serve(containerdruntime.New())
}
