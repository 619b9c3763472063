package testenv

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
)

func TestConfigKeepsEverythingInItsDir(t *testing.T) {
	cfg := Config("/tmp/x")
	for _, want := range []string{
		`root = "/tmp/x/root"`,
		`state = "/tmp/x/state"`,
		`address = "/tmp/x/containerd.sock"`,
		`"io.containerd.grpc.v1.cri"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
}

func TestContainerdAnswersAndGoesAway(t *testing.T) {
	t.Setenv(SocketEnv, "")
	var sock string
	t.Run("start", func(t *testing.T) {
		sock = Containerd(t)
		c, err := containerd.New(sock, containerd.WithTimeout(5*time.Second))
		if err != nil {
			t.Fatalf("dial %s: %v", sock, err)
		}
		defer c.Close()
		v, err := c.Version(context.Background())
		if err != nil {
			t.Fatalf("version: %v", err)
		}
		if v.Version == "" {
			t.Fatal("containerd reported an empty version")
		}
	})
	if sock == "" {
		return // skipped
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket %s still there after the test's cleanup (stat: %v)", sock, err)
	}
}

func TestContainerdUsesAGivenSocket(t *testing.T) {
	var first string
	t.Run("private", func(t *testing.T) {
		first = Containerd(t)
		t.Run("given", func(t *testing.T) {
			t.Setenv(SocketEnv, first)
			if got := Containerd(t); got != first {
				t.Fatalf("with %s=%s, Containerd returned %s", SocketEnv, first, got)
			}
		})
	})
}
