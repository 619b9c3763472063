package main

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/conformance"
)

// runAsPlugin makes the test binary act as the plugin binary when the test
// launches it, so the tests below load what main serves, the way the core
// does: a child process, handshake, version negotiation and AutoMTLS.
const runAsPlugin = "SKIFF_TEST_RUN_AS_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsPlugin) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// launch starts this test binary as the plugin and returns the host's
// client to it.
func launch(t *testing.T) scheduler.Scheduler {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runAsPlugin+"=1")
	client := plugin.NewClient(base.ClientConfig(base.KindScheduler, cmd, scheduler.ClientVersions()))
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	if v := client.NegotiatedVersion(); v != scheduler.APIVersion {
		t.Fatalf("negotiated API version %d, want %d", v, scheduler.APIVersion)
	}
	raw, err := rpc.Dispense(string(base.KindScheduler))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(scheduler.Scheduler)
}

func TestBinaryInfo(t *testing.T) {
	info, err := launch(t).Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindScheduler || info.Name != "binpack" || info.APIVersion != scheduler.APIVersion {
		t.Fatalf("Info = %+v, want the binpack scheduler at API version %d", info, scheduler.APIVersion)
	}
}

// TestBinaryConformance runs the suite against the plugin process.
func TestBinaryConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts one plugin process per case")
	}
	conformance.Run(t, launch)
}
