// Command skiff-scheduler-spread is an example skiff scheduler plugin that
// spreads pods across nodes (see package spread). Build it, put it in
// skiffd's plugin directory, and select it with a profile:
//
//	profiles:
//	  dev:
//	    scheduler: {binary: skiff-scheduler-spread, settings: {score: fewest-pods}}
package main

import (
	"github.com/skiffhq/skiff/examples/scheduler-spread/spread"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

func main() {
	scheduler.Serve(spread.New())
}
