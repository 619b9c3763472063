package overlay

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/skiffhq/skiff/plugins/net-overlay/ipam"
	"github.com/skiffhq/skiff/sdk/network"
)

// Pod churn must leak no address. Two tests: the plugin's address path
// (allocate on SetupPod, releaseAddresses on TeardownPod) 3000 times, which
// is cheap, and whole SetupPod/TeardownPod cycles (namespace, veth, address,
// record) a few hundred times, which is what takes the time.

func TestAddressPathLeaksNothing(t *testing.T) {
	// On tmpfs when there is one: the test is about bookkeeping, and every
	// reservation is synced to disk.
	c := &config{dataDir: t.TempDir()}
	if dir, err := os.MkdirTemp("/dev/shm", "skiff-overlay-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		c.dataDir = dir
	}
	if err := os.MkdirAll(c.ipamDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	node := &nodeState{PodCIDR: "10.199.7.0/24"}
	const cycles, window = 3000, 40
	start := time.Now()
	for i := range cycles + window {
		if i < cycles {
			if _, err := (&Overlay{}).allocate(c, node, fmt.Sprintf("uid-%d", i)); err != nil {
				t.Fatalf("cycle %d: allocate: %v", i, err)
			}
		}
		if i >= window {
			if err := releaseAddresses(c, fmt.Sprintf("uid-%d", i-window)); err != nil {
				t.Fatalf("cycle %d: release: %v", i, err)
			}
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d address cycles (allocate, release) in a /24 in %v (%v per cycle)", cycles, elapsed, elapsed/cycles)
	checkNoReservations(t, c, node.PodCIDR)
}

func checkNoReservations(t *testing.T, c *config, podCIDR string) {
	t.Helper()
	subnet := netip.MustParsePrefix(podCIDR)
	a, err := ipam.New(allocatorDir(c, subnet), subnet)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := a.Reserved(); err != nil || len(held) != 0 {
		t.Errorf("%d addresses still reserved (err %v)", len(held), err)
	}
}

func TestPodChurnLeaksNothing(t *testing.T) {
	o, nc := configuredNode(t)
	nc.PodCIDR = strings.Replace(nc.PodCIDR, "/28", "/24", 1)
	ctx := t.Context()
	if _, err := o.SetupNode(ctx, nc); err != nil {
		t.Fatal(err)
	}
	cycles, window := 300, 5
	if testing.Short() {
		cycles = 50
	}
	var setup, teardown time.Duration
	for i := range cycles + window {
		if i < cycles {
			start := time.Now()
			if _, err := o.SetupPod(ctx, network.PodRef{Namespace: "churn", Name: fmt.Sprint(i), UID: fmt.Sprintf("churn-%d", i)}); err != nil {
				t.Fatalf("cycle %d: SetupPod: %v", i, err)
			}
			setup += time.Since(start)
		}
		if i >= window {
			start := time.Now()
			if err := o.TeardownPod(ctx, network.PodRef{Namespace: "churn", Name: fmt.Sprint(i - window), UID: fmt.Sprintf("churn-%d", i-window)}); err != nil {
				t.Fatalf("cycle %d: TeardownPod: %v", i, err)
			}
			teardown += time.Since(start)
		}
	}
	t.Logf("%d pod cycles in a /24: SetupPod %v, TeardownPod %v on average", cycles, setup/time.Duration(cycles), teardown/time.Duration(cycles))
	checkNoReservations(t, o.cfg, nc.PodCIDR)
	for _, dir := range []string{o.cfg.podsDir(), o.cfg.netnsDir} {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("%s holds %d entries (err %v), want none", dir, len(entries), err)
		}
	}
	inNode(t, o, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if strings.HasPrefix(l.Attrs().Name, "skv") {
				t.Errorf("pod veth %s left behind", l.Attrs().Name)
			}
		}
		return nil
	})
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), o.cfg.netnsDir+"/"); n != 0 {
		t.Errorf("%d namespace mounts left under %s", n, o.cfg.netnsDir)
	}
}
