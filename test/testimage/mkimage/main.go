// Command mkimage writes the offline test images as an OCI archive that
// `skiffctl image load` and `skiffctl cluster create --image-archive` take:
// a busybox image (default skiff.test/busybox:1.0), or with -chapter the
// stand-ins of the chapter's ambassador images (busybox:1.28 and
// skiff.test/{redis,nginx,flask-redis}:1.0). It needs Debian's
// busybox-static and no network.
//
//	go run ./test/testimage/mkimage -o busybox.tar
//	go run ./test/testimage/mkimage -chapter -o chapter-images.tar
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiffhq/skiff/test/testimage"
)

func main() {
	out := flag.String("o", "busybox.tar", "archive to write")
	ref := flag.String("ref", "skiff.test/busybox:1.0", "reference of the busybox image")
	chapter := flag.Bool("chapter", false, "write the chapter's ambassador stand-ins instead")
	flag.Parse()
	if err := write(*out, *ref, *chapter); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(out, ref string, chapter bool) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	images := []testimage.Image{{Ref: ref, Cmd: []string{"sh"}}}
	if chapter {
		images = testimage.AmbassadorImages()
	}
	made, err := testimage.Archive(filepath.Dir(abs), filepath.Base(abs), images...)
	if err != nil {
		return err
	}
	for _, img := range images {
		fmt.Printf("%s\n", img.Ref)
	}
	fmt.Printf("written to %s\n", made)
	return nil
}
