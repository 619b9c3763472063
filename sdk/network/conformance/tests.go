package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

func (s *suite) testInfo(t *testing.T) {
	n := dial(t, s.newNetwork(t))
	info, err := n.Info(s.ctx(t))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindNetwork {
		t.Errorf("Info.Kind = %q, want %q", info.Kind, base.KindNetwork)
	}
	if info.Name == "" {
		t.Error("Info.Name is empty")
	}
	if info.APIVersion != network.APIVersion {
		t.Errorf("Info.APIVersion = %d, want %d", info.APIVersion, network.APIVersion)
	}
	for _, sp := range info.Settings {
		if sp.Name == "" {
			t.Errorf("Info.Settings has a setting without a name: %+v", sp)
		}
	}
	if _, err := base.ValidateSettings(info.Settings, s.opts.Settings); err != nil {
		t.Errorf("Options.Settings do not match Info.Settings: %v", err)
	}
}

func (s *suite) testSetupPodBeforeSetupNode(t *testing.T) {
	in := s.start(t, "")
	pod := newPod("early")
	s.teardownLater(t, in, pod)
	_, err := in.SetupPod(s.ctx(t), pod)
	if !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Fatalf("SetupPod before SetupNode: err = %v, want one wrapping network.ErrNodeNotSetUp", err)
	}
}

func (s *suite) testSetupNodeIsIdempotent(t *testing.T) {
	in := s.start(t, "")
	first := s.setupNode(t, in)
	if first.Bridge == "" {
		t.Error("NodeStatus.Bridge is empty")
	}
	if first.MTU <= 0 {
		t.Errorf("NodeStatus.MTU = %d, want > 0", first.MTU)
	}
	wantGW := s.podCIDR().Addr().Next()
	if first.GatewayIP != wantGW.String() {
		t.Errorf("NodeStatus.GatewayIP = %q, want the PodCIDR's first address %s", first.GatewayIP, wantGW)
	}
	if first.VTEPMAC != "" {
		if mac, err := net.ParseMAC(first.VTEPMAC); err != nil || len(mac) != 6 {
			t.Errorf("NodeStatus.VTEPMAC = %q, not an Ethernet address", first.VTEPMAC)
		}
	}
	if first.DNSIP != "" {
		if _, err := netip.ParseAddr(first.DNSIP); err != nil {
			t.Errorf("NodeStatus.DNSIP = %q, not an IP address", first.DNSIP)
		}
	}
	second := s.setupNode(t, in)
	if second != first {
		t.Errorf("second SetupNode = %+v, want %+v as the first", second, first)
	}
}

func (s *suite) testSetupPod(t *testing.T) {
	in := s.startNode(t)
	pod := newPod("web")
	pn := s.setupPod(t, in, pod)
	if pn.PodRef != pod {
		t.Errorf("PodNetwork.PodRef = %+v, want %+v", pn.PodRef, pod)
	}
	if pn.Interface == "" {
		t.Error("PodNetwork.Interface is empty")
	}
	if _, err := os.Stat(pn.NetNSPath); err != nil {
		t.Errorf("PodNetwork.NetNSPath: %v", err)
	}
	ip := s.podIP(t, pn)
	if !s.podCIDR().Contains(ip) {
		t.Errorf("pod IP %s is outside PodCIDR %s", ip, s.podCIDR())
	}
	if gw := s.podCIDR().Addr().Next(); ip == gw || ip == s.podCIDR().Addr() {
		t.Errorf("pod IP %s is the network or gateway address", ip)
	}
}

func (s *suite) testSetupPodIsIdempotent(t *testing.T) {
	in := s.startNode(t)
	pod := newPod("twice")
	first := s.setupPod(t, in, pod)
	second := s.setupPod(t, in, pod)
	if first.NetNSPath != second.NetNSPath || s.podIP(t, first) != s.podIP(t, second) {
		t.Errorf("second SetupPod = %+v, want the same namespace and IP as %+v", second, first)
	}
}

func (s *suite) testTwoPodsGetDifferentIPs(t *testing.T) {
	in := s.startNode(t)
	a := s.setupPod(t, in, newPod("a"))
	b := s.setupPod(t, in, newPod("b"))
	if s.podIP(t, a) == s.podIP(t, b) {
		t.Errorf("pods a and b both got %s", s.podIP(t, a))
	}
	if a.NetNSPath == b.NetNSPath {
		t.Errorf("pods a and b share the namespace %s", a.NetNSPath)
	}
}

func (s *suite) testConcurrentSetupPod(t *testing.T) {
	in := s.startNode(t)
	n := min(4, s.usable())
	pods := make([]network.PodRef, n)
	for i := range pods {
		pods[i] = newPod(fmt.Sprintf("concurrent-%d", i))
		s.teardownLater(t, in, pods[i])
	}
	results := make([]network.PodNetwork, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() { results[i], errs[i] = in.SetupPod(s.ctx(t), pods[i]) })
	}
	wg.Wait()
	seen := map[netip.Addr]string{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("SetupPod(%s): %v", pods[i].Name, err)
			continue
		}
		ip := s.podIP(t, results[i])
		if other, dup := seen[ip]; dup {
			t.Errorf("pods %s and %s both got %s", other, pods[i].Name, ip)
		}
		seen[ip] = pods[i].Name
	}
}

func (s *suite) testLoopbackIsUp(t *testing.T) {
	in := s.startNode(t)
	pn := s.setupPod(t, in, newPod("loopback"))
	ln, err := listenIn(pn.NetNSPath, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := dialFrom(pn.NetNSPath, ln.Addr())
	if err != nil {
		t.Fatalf("inside the pod, dial %s: %v (is lo up?)", ln.Addr(), err)
	}
	if err := roundTrip(conn); err != nil {
		t.Fatalf("inside the pod: %v", err)
	}
}

func (s *suite) testPodInterface(t *testing.T) {
	in := s.startNode(t)
	pn := s.setupPod(t, in, newPod("iface"))
	ip := s.podIP(t, pn)
	err := inNetNS(pn.NetNSPath, func() error {
		ifc, err := net.InterfaceByName(pn.Interface)
		if err != nil {
			return fmt.Errorf("interface %q: %w", pn.Interface, err)
		}
		if ifc.Flags&net.FlagUp == 0 {
			return fmt.Errorf("interface %q is down", pn.Interface)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return fmt.Errorf("interface %q: %w", pn.Interface, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(net.IP(ip.AsSlice())) {
				return nil
			}
		}
		return fmt.Errorf("interface %q has %v, not the pod IP %s", pn.Interface, addrs, ip)
	})
	if err != nil {
		t.Fatalf("inside the pod: %v", err)
	}
	err = inNetNS(pn.NetNSPath, func() error {
		ok, err := hasDefaultRoute()
		if err == nil && !ok {
			err = errors.New("no IPv4 default route")
		}
		return err
	})
	if err != nil {
		t.Fatalf("inside the pod: %v", err)
	}
}

func (s *suite) testHostReachesPod(t *testing.T) {
	in := s.startNode(t)
	pn := s.setupPod(t, in, newPod("server"))
	ln, err := listenIn(pn.NetNSPath, s.podIP(t, pn))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := dialFrom(s.hostNS(t), ln.Addr())
	if err != nil {
		t.Fatalf("from the host, dial the pod at %s: %v", ln.Addr(), err)
	}
	if err := roundTrip(conn); err != nil {
		t.Fatalf("from the host: %v", err)
	}
}

func (s *suite) testPodReachesPod(t *testing.T) {
	in := s.startNode(t)
	server := s.setupPod(t, in, newPod("server"))
	client := s.setupPod(t, in, newPod("client"))
	ln, err := listenIn(server.NetNSPath, s.podIP(t, server))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := dialFrom(client.NetNSPath, ln.Addr())
	if err != nil {
		t.Fatalf("from pod client, dial pod server at %s: %v", ln.Addr(), err)
	}
	if err := roundTrip(conn); err != nil {
		t.Fatalf("from pod client: %v", err)
	}
}

func (s *suite) testPodStatusAndListPods(t *testing.T) {
	in := s.startNode(t)
	a := s.setupPod(t, in, newPod("a"))
	b := s.setupPod(t, in, newPod("b"))
	for _, want := range []network.PodNetwork{a, b} {
		got, err := in.PodStatus(s.ctx(t), want.PodRef)
		if err != nil {
			t.Errorf("PodStatus(%s): %v", want.Name, err)
			continue
		}
		if !samePodNetwork(got, want) {
			t.Errorf("PodStatus(%s) = %+v, want %+v as SetupPod returned", want.Name, got, want)
		}
	}
	pods, err := in.ListPods(s.ctx(t))
	if err != nil {
		t.Fatalf("ListPods: %v", err)
	}
	if len(pods) != 2 || !containsPod(pods, a.UID) || !containsPod(pods, b.UID) {
		t.Errorf("ListPods = %+v, want exactly pods a and b", pods)
	}
}

func (s *suite) testPodStatusUnknown(t *testing.T) {
	in := s.startNode(t)
	_, err := in.PodStatus(s.ctx(t), newPod("ghost"))
	if !errors.Is(err, base.ErrNotFound) {
		t.Fatalf("PodStatus(unknown pod): err = %v, want one wrapping base.ErrNotFound", err)
	}
}

func (s *suite) testTeardownPod(t *testing.T) {
	in := s.startNode(t)
	pod := newPod("doomed")
	pn := s.setupPod(t, in, pod)
	if err := in.TeardownPod(s.ctx(t), pod); err != nil {
		t.Fatalf("TeardownPod: %v", err)
	}
	if _, err := os.Stat(pn.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after TeardownPod, netns file %s: err = %v, want it gone", pn.NetNSPath, err)
	}
	if _, err := in.PodStatus(s.ctx(t), pod); !errors.Is(err, base.ErrNotFound) {
		t.Errorf("after TeardownPod, PodStatus: err = %v, want one wrapping base.ErrNotFound", err)
	}
	pods, err := in.ListPods(s.ctx(t))
	if err != nil {
		t.Fatalf("ListPods: %v", err)
	}
	if containsPod(pods, pod.UID) {
		t.Errorf("after TeardownPod, ListPods still has the pod: %+v", pods)
	}
	if err := in.TeardownPod(s.ctx(t), pod); err != nil {
		t.Errorf("second TeardownPod: %v, want nil", err)
	}
}

func (s *suite) testTeardownPodUnknown(t *testing.T) {
	in := s.startNode(t)
	if err := in.TeardownPod(s.ctx(t), newPod("ghost")); err != nil {
		t.Fatalf("TeardownPod(unknown pod) = %v, want nil", err)
	}
}

// testAddressesAreReused sets up and tears down more pods, one after the
// other, than PodCIDR has addresses: teardown must release them.
func (s *suite) testAddressesAreReused(t *testing.T) {
	if s.usable() > 256 {
		t.Skipf("PodCIDR %s is too large to cycle through; use a /28", s.podCIDR())
	}
	in := s.startNode(t)
	for i := range s.usable() + 3 {
		pod := newPod(fmt.Sprintf("cycle-%d", i))
		s.teardownLater(t, in, pod)
		if _, err := in.SetupPod(s.ctx(t), pod); err != nil {
			t.Fatalf("cycle %d: SetupPod: %v", i, err)
		}
		if err := in.TeardownPod(s.ctx(t), pod); err != nil {
			t.Fatalf("cycle %d: TeardownPod: %v", i, err)
		}
	}
}

// testAddressesExhausted fills PodCIDR and expects ErrAddressesExhausted,
// then frees one address and expects it to be usable again.
func (s *suite) testAddressesExhausted(t *testing.T) {
	if s.usable() > 61 {
		t.Skipf("PodCIDR %s is too large to fill; use a /28", s.podCIDR())
	}
	in := s.startNode(t)
	var pods []network.PodRef
	for i := 0; ; i++ {
		if i > s.usable() {
			t.Fatalf("set up %d pods in PodCIDR %s, which has at most %d pod addresses", i, s.podCIDR(), s.usable())
		}
		pod := newPod(fmt.Sprintf("fill-%d", i))
		s.teardownLater(t, in, pod)
		_, err := in.SetupPod(s.ctx(t), pod)
		if errors.Is(err, network.ErrAddressesExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("SetupPod #%d: %v", i, err)
		}
		pods = append(pods, pod)
	}
	if len(pods) == 0 {
		t.Fatal("the first SetupPod already reported ErrAddressesExhausted")
	}
	if err := in.TeardownPod(s.ctx(t), pods[0]); err != nil {
		t.Fatalf("TeardownPod: %v", err)
	}
	late := newPod("late")
	s.setupPod(t, in, late)
}

// testSurvivesRestart sets a pod up, then starts a second plugin instance
// on the same data directory, as after a crash of the plugin, and expects
// it to know the pod.
func (s *suite) testSurvivesRestart(t *testing.T) {
	first := s.startNode(t)
	pod := newPod("survivor")
	before := s.setupPod(t, first, pod)

	second := s.start(t, first.dataDir)
	s.teardownLater(t, second, pod)
	got, err := second.PodStatus(s.ctx(t), pod)
	if err != nil {
		t.Fatalf("after restart, PodStatus: %v", err)
	}
	if !samePodNetwork(got, before) {
		t.Errorf("after restart, PodStatus = %+v, want %+v", got, before)
	}
	pods, err := second.ListPods(s.ctx(t))
	if err != nil {
		t.Fatalf("after restart, ListPods: %v", err)
	}
	if !containsPod(pods, pod.UID) {
		t.Errorf("after restart, ListPods = %+v, want the pod", pods)
	}
	s.setupNode(t, second)
	again, err := second.SetupPod(s.ctx(t), pod)
	if err != nil {
		t.Fatalf("after restart, SetupPod: %v", err)
	}
	if !samePodNetwork(again, before) {
		t.Errorf("after restart, SetupPod = %+v, want %+v", again, before)
	}
	other := s.setupPod(t, second, newPod("newcomer"))
	if s.podIP(t, other) == s.podIP(t, before) {
		t.Errorf("after restart, a new pod got %s, which the survivor holds", s.podIP(t, other))
	}
}

func samePodNetwork(a, b network.PodNetwork) bool {
	return a.PodRef == b.PodRef && a.NetNSPath == b.NetNSPath && a.Interface == b.Interface && slices.Equal(a.IPs, b.IPs)
}
