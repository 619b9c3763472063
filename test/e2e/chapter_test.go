package e2e

import (
	"os"
	"path/filepath"
)

// chapterDir holds the chapter's manifests as files (examples/chapter),
// which the README's walkthrough applies too.
const chapterDir = "../../examples/chapter"

// chapterManifests are the chapter's manifests by file name. Their images
// are on Docker Hub: tests either apply them where nothing is pulled, or run
// them on offline stand-ins (test/testimage) by replacing only the image
// lines.
var chapterManifests = readChapterManifests()

func readChapterManifests() map[string]string {
	files, err := filepath.Glob(filepath.Join(chapterDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		panic("e2e: no chapter manifests in " + chapterDir)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			panic("e2e: " + err.Error())
		}
		out[filepath.Base(f)] = string(data)
	}
	return out
}
