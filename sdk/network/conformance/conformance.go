// Package conformance is the suite every skiff network plugin runs: it
// drives a plugin through the real gRPC path (go-plugin's
// TestPluginGRPCConn, then Dispense), the way the core's agent does, and
// checks the behaviour the contract in package network promises.
//
// A plugin's test calls Run with a factory that returns a fresh
// implementation:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(t *testing.T) network.Network {
//			p := myplugin.New()
//			t.Cleanup(func() { /* TeardownNode, stop what runs in-process */ })
//			return p
//		}, conformance.Options{
//			Node:         network.NodeConfig{NodeName: "conf", PodCIDR: "10.199.7.0/28", ClusterCIDR: "10.199.0.0/16"},
//			Settings:     map[string]string{"bridge": "sktest7"},
//			NetNSSetting: "netns",
//		})
//	}
//
// The suite makes real namespaces and links, so it needs root: without
// root it skips, or fails when the CI environment variable is set.
//
// With Options.NetNSSetting (the plugin's setting that makes it do its
// node's host-side work inside a given network namespace), every subtest
// builds a small cluster of its own: one namespace per node, playing the
// node's host, joined by a switch namespace (see nodes.go). Nothing the
// plugin does then touches the machine's own namespace, and all traffic
// stays inside namespaces the suite made. The subtests that need more than
// one node, services, DNS or a clean slate to compare against (peers,
// services, DNS, TeardownNode) run only this way and are skipped without
// it. Without it, the single-node subtests run in the test's own namespace
// with Options.Node as given.
//
// Each subtest uses new plugin instances on new data directories, and
// tears down every pod it set up, even when it fails; what the node setup
// made is the factory's to clean up, from t.Cleanup (calling TeardownNode
// is enough for a plugin that passes the TeardownNode subtest).
package conformance

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// Options tunes the suite for one plugin.
type Options struct {
	// Node is what the suite hands SetupNode. Choose a node name, PodCIDR
	// and ClusterCIDR that no real node on the test host uses. A small
	// PodCIDR (a /28) keeps the address reuse and exhaustion checks fast:
	// they set up as many pods as the PodCIDR has addresses.
	Node network.NodeConfig
	// Settings are handed to Configure, together with a new data directory
	// per subtest.
	Settings map[string]string
	// Timeout bounds each call to the plugin (default 30s).
	Timeout time.Duration
	// NetNSSetting is the name of the plugin setting that makes it do its
	// node's host-side work (links, routes, rules, DNS sockets) inside the
	// network namespace whose file the setting names. With it, the suite
	// runs every plugin instance as a node in a namespace of its own and
	// overrides Node.NodeIP with that node's address (192.0.2.1, 192.0.2.2
	// for the second node, whose PodCIDR is the one after Node.PodCIDR).
	NetNSSetting string
	// ServiceCIDR holds the ClusterIPs the suite uses (default
	// 198.51.100.0/24, TEST-NET-2). It must not overlap Node.ClusterCIDR.
	ServiceCIDR string
}

// Run runs the suite. newNetwork is called once per plugin instance the
// suite needs (at least once per subtest) and must return a new,
// unconfigured implementation; it may register t.Cleanup functions, which
// run after the suite has torn down its pods.
func Run(t *testing.T, newNetwork func(t *testing.T) network.Network, opts Options) {
	RequireRoot(t)
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if _, err := netip.ParsePrefix(opts.Node.PodCIDR); err != nil {
		t.Fatalf("conformance: Options.Node.PodCIDR %q: %v", opts.Node.PodCIDR, err)
	}
	if opts.ServiceCIDR == "" {
		opts.ServiceCIDR = "198.51.100.0/24"
	}
	svc, err := netip.ParsePrefix(opts.ServiceCIDR)
	if err != nil || svc.Bits() > 28 {
		t.Fatalf("conformance: Options.ServiceCIDR %q: not a prefix of at least 16 addresses", opts.ServiceCIDR)
	}
	s := &suite{newNetwork: newNetwork, opts: opts}
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Info", s.testInfo},
		{"SetupPodBeforeSetupNode", s.testSetupPodBeforeSetupNode},
		{"SetupNodeIsIdempotent", s.testSetupNodeIsIdempotent},
		{"SetupPod", s.testSetupPod},
		{"SetupPodIsIdempotent", s.testSetupPodIsIdempotent},
		{"TwoPodsGetDifferentIPs", s.testTwoPodsGetDifferentIPs},
		{"ConcurrentSetupPod", s.testConcurrentSetupPod},
		{"LoopbackIsUp", s.testLoopbackIsUp},
		{"PodInterface", s.testPodInterface},
		{"HostReachesPod", s.testHostReachesPod},
		{"PodReachesPod", s.testPodReachesPod},
		{"PodStatusAndListPods", s.testPodStatusAndListPods},
		{"PodStatusUnknown", s.testPodStatusUnknown},
		{"TeardownPod", s.testTeardownPod},
		{"TeardownPodUnknown", s.testTeardownPodUnknown},
		{"AddressesAreReused", s.testAddressesAreReused},
		{"AddressesExhausted", s.testAddressesExhausted},
		{"SurvivesRestart", s.testSurvivesRestart},
		{"CallsBeforeSetupNode", s.testCallsBeforeSetupNode},
		{"TeardownNodeBeforeSetupNode", s.testTeardownNodeBeforeSetupNode},
		{"PeersCarryPodTraffic", s.testPeersCarryPodTraffic},
		{"PeersAreFullState", s.testPeersAreFullState},
		{"SetPeersRejectsInvalid", s.testSetPeersRejectsInvalid},
		{"ServiceBalancesAcrossEndpoints", s.testServiceBalancesAcrossEndpoints},
		{"ServiceUDP", s.testServiceUDP},
		{"ServiceAcrossNodes", s.testServiceAcrossNodes},
		{"SetServicesRejectsInvalid", s.testSetServicesRejectsInvalid},
		{"DNS", s.testDNS},
		{"TeardownNodeLeavesNothing", s.testTeardownNodeLeavesNothing},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// RequireRoot skips the test when not run as root, or fails it when the CI
// environment variable is set (CI must run what it ships).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("network conformance needs root (CI is set, so not skipping)")
	}
	t.Skip("network conformance needs root")
}

type suite struct {
	newNetwork func(t *testing.T) network.Network
	opts       Options
	clusters   clusters
}

// instance is one plugin instance as the agent sees it: a Network behind a
// gRPC connection, configured on a data directory, for one node.
type instance struct {
	network.Network
	dataDir string
	node    *testNode
}

// needNetNS skips a subtest that needs node namespaces.
func (s *suite) needNetNS(t *testing.T) {
	t.Helper()
	if s.opts.NetNSSetting == "" {
		t.Skip("needs Options.NetNSSetting: the suite runs peers, services, DNS and TeardownNode checks only on nodes in namespaces of their own")
	}
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// dial serves impl over gRPC and returns the client side.
func dial(t *testing.T, impl network.Network) network.Network {
	t.Helper()
	client, server := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindNetwork): &network.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's controller Shutdown);
		// stopping it here as well would race with that.
		if err := client.Close(); err != nil {
			server.Stop()
		}
	})
	raw, err := client.Dispense(string(base.KindNetwork))
	if err != nil {
		t.Fatalf("Dispense(%q): %v", base.KindNetwork, err)
	}
	n, ok := raw.(network.Network)
	if !ok {
		t.Fatalf("Dispense(%q) returned %T, not a network.Network", base.KindNetwork, raw)
	}
	return n
}

// start makes a plugin instance for node 0 and configures it on dataDir
// ("" means a new directory).
func (s *suite) start(t *testing.T, dataDir string) *instance {
	t.Helper()
	return s.startOn(t, s.node(t, 0), dataDir)
}

// startOn makes a plugin instance for node n.
func (s *suite) startOn(t *testing.T, n *testNode, dataDir string) *instance {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	settings := maps.Clone(s.opts.Settings)
	if n.nsPath != "" {
		if settings == nil {
			settings = map[string]string{}
		}
		settings[s.opts.NetNSSetting] = n.nsPath
	}
	p := dial(t, s.newNetwork(t))
	cfg := base.Config{NodeName: n.cfg.NodeName, DataDir: dataDir, Settings: settings}
	if err := p.Configure(s.ctx(t), cfg); err != nil {
		t.Fatalf("Configure(%+v): %v", cfg, err)
	}
	return &instance{Network: p, dataDir: dataDir, node: n}
}

// startNode is start plus SetupNode.
func (s *suite) startNode(t *testing.T) *instance {
	t.Helper()
	in := s.start(t, "")
	s.setupNode(t, in)
	return in
}

func (s *suite) setupNode(t *testing.T, in *instance) network.NodeStatus {
	t.Helper()
	st, err := in.SetupNode(s.ctx(t), in.node.cfg)
	if err != nil {
		t.Fatalf("SetupNode(%+v): %v", in.node.cfg, err)
	}
	return st
}

// hostNS is the namespace of node 0's host: "" (the test's own) without
// Options.NetNSSetting.
func (s *suite) hostNS(t *testing.T) string {
	return s.node(t, 0).nsPath
}

// newPod names a pod with a fresh UUID-shaped UID.
func newPod(name string) network.PodRef {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	uid := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	return network.PodRef{Namespace: "conformance", Name: name, UID: uid}
}

// setupPod sets a pod up and registers its teardown, which runs even when
// the test fails.
func (s *suite) setupPod(t *testing.T, in *instance, pod network.PodRef) network.PodNetwork {
	t.Helper()
	s.teardownLater(t, in, pod)
	pn, err := in.SetupPod(s.ctx(t), pod)
	if err != nil {
		t.Fatalf("SetupPod(%+v): %v", pod, err)
	}
	return pn
}

func (s *suite) teardownLater(t *testing.T, in *instance, pod network.PodRef) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		if err := in.TeardownPod(ctx, pod); err != nil {
			t.Errorf("cleanup: TeardownPod(%+v): %v", pod, err)
		}
	})
}

// podIP checks the pod's primary address and returns it.
func (s *suite) podIP(t *testing.T, pn network.PodNetwork) netip.Addr {
	t.Helper()
	if len(pn.IPs) == 0 {
		t.Fatalf("pod %s/%s: no IPs in %+v", pn.Namespace, pn.Name, pn)
	}
	ip, err := netip.ParseAddr(pn.IPs[0])
	if err != nil {
		t.Fatalf("pod %s/%s: IP %q: %v", pn.Namespace, pn.Name, pn.IPs[0], err)
	}
	return ip
}

func (s *suite) podCIDR() netip.Prefix {
	return netip.MustParsePrefix(s.opts.Node.PodCIDR).Masked()
}

// usable is how many pod addresses PodCIDR has at most: all but the
// network, gateway and broadcast addresses.
func (s *suite) usable() int {
	return 1<<(s.podCIDR().Addr().BitLen()-s.podCIDR().Bits()) - 3
}

func containsPod(pods []network.PodNetwork, uid string) bool {
	return slices.ContainsFunc(pods, func(p network.PodNetwork) bool { return p.UID == uid })
}
