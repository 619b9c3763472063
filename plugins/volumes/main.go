// Command skiff-volumes is skiff's volumes plugin: emptyDir (on disk or in
// memory), configMap and secret volumes (see package volumesplugin).
package main

import (
	"github.com/skiffhq/skiff/plugins/volumes/volumesplugin"
	"github.com/skiffhq/skiff/sdk/volumes"
)

func main() {
	volumes.Serve(volumesplugin.New())
}
