package main

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/volumes"
	"github.com/skiffhq/skiff/sdk/volumes/conformance"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// launch starts this test binary as the plugin and returns the host's
// client to it.
func launch(t *testing.T) volumes.Volumes {
	t.Helper()
	return plugintest.Launch(t, base.KindVolumes, volumes.ClientVersions()).(volumes.Volumes)
}

func TestBinaryInfo(t *testing.T) {
	info, err := launch(t).Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindVolumes || info.APIVersion != volumes.APIVersion {
		t.Fatalf("Info = %+v, want kind %q at API version %d", info, base.KindVolumes, volumes.APIVersion)
	}
}

// TestBinaryConformance runs the suite against the plugin process (which
// shares this test's mount namespace, so the suite's checks see its
// mounts).
func TestBinaryConformance(t *testing.T) {
	plugintest.SkipIfShort(t, "starts one plugin process per case")
	conformance.Run(t, launch)
}
