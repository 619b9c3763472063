package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// serveEnv makes the test binary act as the plugin binary, so the test
// launches "itself" through go-plugin exactly as the core launches
// skiff-net-overlay.
const serveEnv = "SKIFF_NET_OVERLAY_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestBinaryServesNetwork launches the plugin process with the host's
// client configuration and talks to it: handshake, version negotiation,
// Info, Configure, and an error that must keep its sentinel across the
// process boundary. It needs no root: no links are made.
func TestBinaryServesNetwork(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serveEnv+"=1")
	cfg := base.ClientConfig(base.KindNetwork, cmd, network.ClientVersions())
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Warn, Output: os.Stderr})
	client := plugin.NewClient(cfg)
	t.Cleanup(client.Kill)

	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	if v := client.NegotiatedVersion(); v != network.APIVersion {
		t.Errorf("negotiated version %d, want %d", v, network.APIVersion)
	}
	raw, err := rpc.Dispense(string(base.KindNetwork))
	if err != nil {
		t.Fatalf("Dispense: %v", err)
	}
	n := raw.(network.Network)
	ctx := context.Background()

	info, err := n.Info(ctx)
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindNetwork || info.Name != "net-overlay" || info.APIVersion != network.APIVersion {
		t.Errorf("Info = %+v", info)
	}
	if err := n.Configure(ctx, base.Config{DataDir: "relative"}); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("Configure with a relative data dir: err = %v, want base.ErrInvalid", err)
	}
	if err := n.Configure(ctx, base.Config{NodeName: "n1", DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	_, err = n.SetupPod(ctx, network.PodRef{Namespace: "default", Name: "nginx", UID: "u1"})
	if !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetupPod before SetupNode: err = %v, want network.ErrNodeNotSetUp", err)
	}
}
