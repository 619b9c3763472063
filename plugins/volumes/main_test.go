package main

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
	"github.com/skiffhq/skiff/sdk/volumes/conformance"
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

func launch(t *testing.T) volumes.Volumes {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runAsPlugin+"=1")
	client := plugin.NewClient(base.ClientConfig(base.KindVolumes, cmd, volumes.ClientVersions()))
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(string(base.KindVolumes))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(volumes.Volumes)
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
	if testing.Short() {
		t.Skip("starts one plugin process per case")
	}
	conformance.Run(t, launch)
}
