// Command skiff-scheduler-binpack is skiff's default scheduler plugin: it
// packs pods onto the most allocated nodes that fit them (see package
// binpack).
package main

import (
	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

func main() {
	scheduler.Serve(binpack.New())
}
