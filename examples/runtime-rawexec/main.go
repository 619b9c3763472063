// Command skiff-runtime-rawexec is an EXAMPLE skiff runtime plugin that runs
// containers as plain host processes, with no isolation (see package
// rawexec). Put it in skiffd's plugin directory and select it with a
// profile:
//
//	profiles:
//	  noisolation:
//	    runtime: {binary: skiff-runtime-rawexec}
package main

import (
	"github.com/skiffhq/skiff/examples/runtime-rawexec/rawexec"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func main() {
	// The same binary is the containers' shim.
	rawexec.RunShimIfInvoked()
	runtime.Serve(rawexec.New())
}
