// Command skiff-probes is skiff's probes plugin: it runs containers'
// startup, readiness and liveness probes (see package prober).
package main

import (
	"github.com/skiffhq/skiff/plugins/probes/prober"
	"github.com/skiffhq/skiff/sdk/probes"
)

func main() {
	probes.Serve(prober.New())
}
