package main

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/conformance"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way skiffd does:
// a separate process, go-plugin's handshake, version negotiation and mTLS.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

func launch(t *testing.T) scheduler.Scheduler {
	t.Helper()
	return plugintest.Launch(t, base.KindScheduler, scheduler.ClientVersions()).(scheduler.Scheduler)
}

func TestBinaryInfo(t *testing.T) {
	info, err := launch(t).Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindScheduler || info.Name != "spread" || info.APIVersion != scheduler.APIVersion {
		t.Fatalf("Info = %+v, want the spread scheduler at API version %d", info, scheduler.APIVersion)
	}
}

// TestBinaryConformance runs the suite against the plugin process.
func TestBinaryConformance(t *testing.T) {
	plugintest.SkipIfShort(t, "starts one plugin process per case")
	conformance.Run(t, launch)
}
