package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// Subtests of peers, services, DNS and TeardownNode. All but the first two
// need node namespaces (Options.NetNSSetting).

const svcNamespace = "conformance"

func (s *suite) testCallsBeforeSetupNode(t *testing.T) {
	in := s.start(t, "")
	if err := in.SetPeers(s.ctx(t), nil); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetPeers before SetupNode: err = %v, want one wrapping network.ErrNodeNotSetUp", err)
	}
	if err := in.SetServices(s.ctx(t), nil); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetServices before SetupNode: err = %v, want one wrapping network.ErrNodeNotSetUp", err)
	}
}

func (s *suite) testTeardownNodeBeforeSetupNode(t *testing.T) {
	in := s.start(t, "")
	for i := range 2 {
		if err := in.TeardownNode(s.ctx(t)); err != nil {
			t.Errorf("TeardownNode #%d before SetupNode = %v, want nil", i+1, err)
		}
	}
}

// serviceIP is the i-th ClusterIP the suite uses.
func (s *suite) serviceIP(i int) netip.Addr {
	a := netip.MustParsePrefix(s.opts.ServiceCIDR).Masked().Addr()
	for range 10 + i {
		a = a.Next()
	}
	return a
}

// overlayNode starts a plugin instance on node i of t's cluster and sets
// its node up; it fails the test if the node reports no overlay.
func (s *suite) overlayNode(t *testing.T, i int) (*instance, network.NodeStatus) {
	t.Helper()
	in := s.startOn(t, s.node(t, i), "")
	st := s.setupNode(t, in)
	if st.VTEPMAC == "" {
		t.Fatalf("node %d (NodeIP %s): NodeStatus.VTEPMAC is empty: no overlay", i, in.node.cfg.NodeIP)
	}
	if st.MTU+50 > underlayMTU {
		t.Errorf("node %d: NodeStatus.MTU = %d on a %d-byte underlay: no room for VXLAN's 50 bytes", i, st.MTU, underlayMTU)
	}
	return in, st
}

func peerOf(in *instance, st network.NodeStatus) network.Peer {
	return network.Peer{NodeName: in.node.cfg.NodeName, NodeIP: in.node.cfg.NodeIP, PodCIDR: in.node.cfg.PodCIDR, VTEPMAC: st.VTEPMAC}
}

func (s *suite) setPeers(t *testing.T, in *instance, peers ...network.Peer) {
	t.Helper()
	if err := in.SetPeers(s.ctx(t), peers); err != nil {
		t.Fatalf("node %d: SetPeers(%+v): %v", in.node.index, peers, err)
	}
}

// checkReach dials from one pod to a listener in another and checks the
// echo.
func (s *suite) checkReach(t *testing.T, from, to network.PodNetwork) {
	t.Helper()
	ln, err := listenIn(to.NetNSPath, s.podIP(t, to))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := dialFrom(from.NetNSPath, ln.Addr())
	if err != nil {
		t.Fatalf("from pod %s, dial pod %s at %s: %v", from.Name, to.Name, ln.Addr(), err)
	}
	if err := roundTrip(conn); err != nil {
		t.Fatalf("from pod %s to pod %s: %v", from.Name, to.Name, err)
	}
}

// checkNoReach expects a connection from one pod to another to fail.
func (s *suite) checkNoReach(t *testing.T, from, to network.PodNetwork) {
	t.Helper()
	ln, err := listenIn(to.NetNSPath, s.podIP(t, to))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Timeout: 2 * time.Second}
	var conn net.Conn
	err = inNetNS(from.NetNSPath, func() (err error) {
		conn, err = d.Dial("tcp", ln.Addr().String())
		return err
	})
	if err == nil {
		conn.Close()
		t.Errorf("pod %s still reaches pod %s at %s", from.Name, to.Name, ln.Addr())
	}
}

// peerEntries reports which of a peer's overlay entries node nsPath holds:
// a route to its PodCIDR, a permanent neighbour entry with its VTEP MAC,
// an FDB entry from its VTEP MAC to its NodeIP.
func peerEntries(nsPath string, p network.Peer) (route, neigh, fdb bool, err error) {
	podCIDR := netip.MustParsePrefix(p.PodCIDR)
	mac, _ := net.ParseMAC(p.VTEPMAC)
	nodeIP := net.ParseIP(p.NodeIP)
	err = withHandle(nsPath, func(h *netlink.Handle) error {
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		route = slices.ContainsFunc(routes, func(r netlink.Route) bool {
			if r.Dst == nil {
				return false
			}
			ones, _ := r.Dst.Mask.Size()
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			return netip.PrefixFrom(a.Unmap(), ones) == podCIDR
		})
		neighs, err := h.NeighList(0, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		neigh = slices.ContainsFunc(neighs, func(n netlink.Neigh) bool {
			return n.HardwareAddr.String() == mac.String() && n.State&netlink.NUD_PERMANENT != 0
		})
		entries, err := h.NeighList(0, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		fdb = slices.ContainsFunc(entries, func(n netlink.Neigh) bool {
			return n.HardwareAddr.String() == mac.String() && n.IP.Equal(nodeIP)
		})
		return nil
	})
	return route, neigh, fdb, err
}

func (s *suite) checkPeerEntries(t *testing.T, in *instance, p network.Peer, want bool) {
	t.Helper()
	route, neigh, fdb, err := peerEntries(in.node.nsPath, p)
	if err != nil {
		t.Fatalf("node %d: list entries: %v", in.node.index, err)
	}
	for what, got := range map[string]bool{
		"route to PodCIDR " + p.PodCIDR:                        route,
		"permanent neighbour entry with VTEP MAC " + p.VTEPMAC: neigh,
		"FDB entry " + p.VTEPMAC + " → " + p.NodeIP:            fdb,
	} {
		if got != want {
			t.Errorf("node %d, peer %q: %s: present = %v, want %v", in.node.index, p.NodeName, what, got, want)
		}
	}
}

func (s *suite) testPeersCarryPodTraffic(t *testing.T) {
	s.needNetNS(t)
	a, stA := s.overlayNode(t, 0)
	b, stB := s.overlayNode(t, 1)
	if stA.VTEPMAC == stB.VTEPMAC {
		t.Errorf("both nodes report VTEPMAC %s", stA.VTEPMAC)
	}
	pa, pb := peerOf(a, stA), peerOf(b, stB)
	// A node finds itself in the list: it must ignore that entry.
	s.setPeers(t, a, pa, pb)
	s.setPeers(t, b, pa, pb)
	left := s.setupPod(t, a, newPod("left"))
	right := s.setupPod(t, b, newPod("right"))
	s.checkReach(t, left, right)
	s.checkReach(t, right, left)
	s.checkPeerEntries(t, a, pb, true)
	s.checkPeerEntries(t, b, pa, true)

	// A full-size packet crosses whole: the pods' MTU leaves room for the
	// encapsulation.
	pc, err := receiveIn(right.NetNSPath, s.podIP(t, right))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	size := stA.MTU - 28 // IPv4 and UDP headers
	to := netip.AddrPortFrom(s.podIP(t, right), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 65536)
		_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			n = -1
		}
		got <- n
	}()
	if err := sendDF(left.NetNSPath, to, size); err != nil {
		t.Errorf("send a %d-byte datagram with DF (pod MTU %d) across nodes: %v", size, stA.MTU, err)
	} else if n := <-got; n != size {
		t.Errorf("a %d-byte datagram with DF (pod MTU %d) sent across nodes arrived with %d bytes (-1: not at all)", size, stA.MTU, n)
	}

	// Peers gone: entries gone, traffic stops.
	s.setPeers(t, a)
	s.setPeers(t, b)
	s.checkPeerEntries(t, a, pb, false)
	s.checkPeerEntries(t, b, pa, false)
	s.checkNoReach(t, left, right)
}

func receiveIn(nsPath string, addr netip.Addr) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetNS(nsPath, func() (err error) {
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	return pc, err
}

// ghostPeer is a peer that does not exist: the i-th PodCIDR after node 0's.
func (s *suite) ghostPeer(t *testing.T, i int) network.Peer {
	next, err := nextPrefix(netip.MustParsePrefix(s.opts.Node.PodCIDR), i)
	if err != nil {
		t.Fatal(err)
	}
	return network.Peer{
		NodeName: fmt.Sprintf("ghost-%d", i), NodeIP: fmt.Sprintf("192.0.2.%d", 200+i),
		PodCIDR: next.String(), VTEPMAC: fmt.Sprintf("0e:5c:00:00:00:%02x", i),
	}
}

func (s *suite) testPeersAreFullState(t *testing.T) {
	s.needNetNS(t)
	a, stA := s.overlayNode(t, 0)
	b, stB := s.overlayNode(t, 1)
	pa, pb := peerOf(a, stA), peerOf(b, stB)
	ghost := s.ghostPeer(t, 2)
	s.setPeers(t, a, pb, ghost)
	s.setPeers(t, b, pa)
	s.checkPeerEntries(t, a, ghost, true)
	s.checkPeerEntries(t, a, pb, true)

	s.setPeers(t, a, pb)
	s.setPeers(t, a, pb) // again: nothing changes
	s.checkPeerEntries(t, a, ghost, false)
	s.checkPeerEntries(t, a, pb, true)
	left := s.setupPod(t, a, newPod("left"))
	right := s.setupPod(t, b, newPod("right"))
	s.checkReach(t, left, right)

	// A peer not set up yet (no VTEPMAC) is left out, as if absent.
	pending := pb
	pending.VTEPMAC = ""
	s.setPeers(t, a, pending)
	s.checkPeerEntries(t, a, pb, false)
}

func (s *suite) testSetPeersRejectsInvalid(t *testing.T) {
	s.needNetNS(t)
	a, _ := s.overlayNode(t, 0)
	good := s.ghostPeer(t, 1)
	s.setPeers(t, a, good)
	own := good
	own.NodeName, own.PodCIDR, own.VTEPMAC = "overlapping", a.node.cfg.PodCIDR, "0e:5c:00:00:01:01"
	twin := s.ghostPeer(t, 2)
	twin.PodCIDR = good.PodCIDR
	for name, peers := range map[string][]network.Peer{
		"PodCIDR overlapping the node's":   {good, own},
		"two peers with one PodCIDR":       {good, twin},
		"bad VTEP MAC":                     {good, func() network.Peer { p := s.ghostPeer(t, 3); p.VTEPMAC = "nope"; return p }()},
		"bad node IP":                      {good, func() network.Peer { p := s.ghostPeer(t, 3); p.NodeIP = "node-3"; return p }()},
		"PodCIDR with host bits":           {good, func() network.Peer { p := s.ghostPeer(t, 3); p.PodCIDR = "10.0.0.1/24"; return p }()},
		"PodCIDR outside the cluster CIDR": {good, func() network.Peer { p := s.ghostPeer(t, 3); p.PodCIDR = "203.0.113.0/28"; return p }()},
	} {
		if err := a.SetPeers(s.ctx(t), peers); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("SetPeers with %s: err = %v, want one wrapping base.ErrInvalid", name, err)
		}
	}
	// Nothing changed.
	s.checkPeerEntries(t, a, good, true)
}

// web is a service of two endpoints with a port whose target differs per
// endpoint (a named targetPort) and a second port.
func webService(cip netip.Addr, eps ...network.Endpoint) network.Service {
	return network.Service{
		Namespace: svcNamespace, Name: "web", ClusterIP: cip.String(),
		Ports: []network.ServicePort{
			{Name: "http", Protocol: network.ProtocolTCP, Port: 80},
			{Name: "metrics", Port: 9000},
		},
		Endpoints: eps,
	}
}

func (s *suite) setServices(t *testing.T, in *instance, services ...network.Service) {
	t.Helper()
	if err := in.SetServices(s.ctx(t), services); err != nil {
		t.Fatalf("node %d: SetServices: %v", in.node.index, err)
	}
}

// names fetches n times from addr and counts the answers.
func names(t *testing.T, nsPath string, addr netip.AddrPort, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		name, err := fetchName(nsPath, addr)
		if err != nil {
			t.Fatalf("connect to service %s: %v (seen so far: %v)", addr, err, seen)
		}
		seen[name]++
	}
	return seen
}

func (s *suite) serve(t *testing.T, pn network.PodNetwork, port int, name string) {
	t.Helper()
	ln, err := serveName(pn.NetNSPath, s.podIP(t, pn), port, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func (s *suite) testServiceBalancesAcrossEndpoints(t *testing.T) {
	s.needNetNS(t)
	in := s.startNode(t)
	e1 := s.setupPod(t, in, newPod("ep1"))
	e2 := s.setupPod(t, in, newPod("ep2"))
	client := s.setupPod(t, in, newPod("client"))
	s.serve(t, e1, 8080, "ep1")
	s.serve(t, e2, 8081, "ep2")
	s.serve(t, e1, 9001, "metrics-ep1")
	s.serve(t, e2, 9002, "metrics-ep2")
	cip := s.serviceIP(0)
	ep1 := network.Endpoint{IP: s.podIP(t, e1).String(), Ports: map[string]int{"http": 8080, "metrics": 9001}}
	ep2 := network.Endpoint{IP: s.podIP(t, e2).String(), Ports: map[string]int{"http": 8081, "metrics": 9002}}
	http := netip.AddrPortFrom(cip, 80)

	s.setServices(t, in, webService(cip, ep1, ep2))
	s.setServices(t, in, webService(cip, ep1, ep2)) // again: nothing changes
	if seen := names(t, client.NetNSPath, http, 40); len(seen) != 2 || seen["ep1"] == 0 || seen["ep2"] == 0 {
		t.Errorf("40 connections to %s reached %v, want both ep1 and ep2", http, seen)
	}
	metrics := netip.AddrPortFrom(cip, 9000)
	if seen := names(t, client.NetNSPath, metrics, 30); len(seen) != 2 || seen["metrics-ep1"] == 0 || seen["metrics-ep2"] == 0 {
		t.Errorf("30 connections to %s reached %v, want both endpoints' metrics ports", metrics, seen)
	}

	// An endpoint removed leaves the rotation at once.
	s.setServices(t, in, webService(cip, ep1))
	if seen := names(t, client.NetNSPath, http, 20); len(seen) != 1 || seen["ep1"] != 20 {
		t.Errorf("after ep2 left, 20 connections to %s reached %v, want ep1 only", http, seen)
	}
	// Hairpin: the only endpoint reaches itself through the service.
	if seen := names(t, e1.NetNSPath, http, 3); seen["ep1"] != 3 {
		t.Errorf("from ep1 itself, connections to %s reached %v, want ep1", http, seen)
	}
	// An endpoint that serves only one of the ports.
	half := network.Endpoint{IP: ep2.IP, Ports: map[string]int{"metrics": 9002}}
	s.setServices(t, in, webService(cip, ep1, half))
	if seen := names(t, client.NetNSPath, http, 10); seen["ep1"] != 10 {
		t.Errorf("with ep2 serving only metrics, connections to %s reached %v, want ep1 only", http, seen)
	}
	// The node's own processes reach the service too (the node has a
	// route that covers the ClusterIP, its default route).
	if seen := names(t, in.node.nsPath, http, 3); seen["ep1"] != 3 {
		t.Errorf("from the node's host, connections to %s reached %v, want ep1", http, seen)
	}
	// No endpoints: refused at once, not left to time out.
	s.setServices(t, in, webService(cip))
	if name, err := fetchName(client.NetNSPath, http); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("service without endpoints: a connection to %s: %q, %v; want connection refused", http, name, err)
	}
	// No service: the ClusterIP is an address like any other.
	s.setServices(t, in)
	d := net.Dialer{Timeout: time.Second}
	err := inNetNS(client.NetNSPath, func() error {
		conn, err := d.Dial("tcp", http.String())
		if err == nil {
			conn.Close()
		}
		return err
	})
	if err == nil {
		t.Errorf("service removed: a connection to %s still succeeds", http)
	}
}

func (s *suite) testServiceUDP(t *testing.T) {
	s.needNetNS(t)
	in := s.startNode(t)
	e1 := s.setupPod(t, in, newPod("ep1"))
	e2 := s.setupPod(t, in, newPod("ep2"))
	client := s.setupPod(t, in, newPod("client"))
	for _, e := range []struct {
		pn   network.PodNetwork
		name string
	}{{e1, "ep1"}, {e2, "ep2"}} {
		pc, err := serveNameUDP(e.pn.NetNSPath, s.podIP(t, e.pn), 5353, e.name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
	}
	cip := s.serviceIP(1)
	svc := func(ep network.PodNetwork) network.Service {
		return network.Service{
			Namespace: svcNamespace, Name: "dns", ClusterIP: cip.String(),
			Ports:     []network.ServicePort{{Name: "dns", Protocol: network.ProtocolUDP, Port: 53}},
			Endpoints: []network.Endpoint{{IP: s.podIP(t, ep).String(), Ports: map[string]int{"dns": 5353}}},
		}
	}
	addr := netip.AddrPortFrom(cip, 53)
	conn, err := dialUDPFrom(client.NetNSPath, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s.setServices(t, in, svc(e1))
	if got, err := askUDP(conn); err != nil || got != "ep1" {
		t.Fatalf("UDP to %s: %q, %v; want ep1", addr, got, err)
	}
	// The same socket, after its endpoint was replaced: an endpoint that
	// left gets no more datagrams.
	s.setServices(t, in, svc(e2))
	if got, err := askUDP(conn); err != nil || got != "ep2" {
		t.Errorf("UDP to %s from the same socket after ep1 left: %q, %v; want ep2", addr, got, err)
	}
}

func dialUDPFrom(nsPath string, addr netip.AddrPort) (net.Conn, error) {
	var conn net.Conn
	err := inNetNS(nsPath, func() (err error) {
		conn, err = net.Dial("udp4", addr.String())
		return err
	})
	return conn, err
}

// askUDP sends a datagram on conn and waits for an answer, trying a few
// times.
func askUDP(conn net.Conn) (string, error) {
	buf := make([]byte, 2048)
	var last error
	for range 3 {
		if _, err := conn.Write([]byte("who")); err != nil {
			last = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
		last = err
	}
	return "", last
}

func (s *suite) testServiceAcrossNodes(t *testing.T) {
	s.needNetNS(t)
	a, stA := s.overlayNode(t, 0)
	b, stB := s.overlayNode(t, 1)
	s.setPeers(t, a, peerOf(b, stB))
	s.setPeers(t, b, peerOf(a, stA))
	far := s.setupPod(t, a, newPod("far"))
	near := s.setupPod(t, a, newPod("near"))
	client := s.setupPod(t, b, newPod("client"))
	s.serve(t, far, 8080, "far")
	cip := s.serviceIP(2)
	svc := webService(cip, network.Endpoint{IP: s.podIP(t, far).String(), Ports: map[string]int{"http": 8080}})
	s.setServices(t, a, svc)
	s.setServices(t, b, svc)
	http := netip.AddrPortFrom(cip, 80)
	if seen := names(t, client.NetNSPath, http, 5); seen["far"] != 5 {
		t.Errorf("from node 1, connections to %s reached %v, want the endpoint on node 0", http, seen)
	}
	if seen := names(t, near.NetNSPath, http, 5); seen["far"] != 5 {
		t.Errorf("from node 0, connections to %s reached %v, want the endpoint on node 0", http, seen)
	}
}

func (s *suite) testSetServicesRejectsInvalid(t *testing.T) {
	s.needNetNS(t)
	in := s.startNode(t)
	ep := s.setupPod(t, in, newPod("ep"))
	client := s.setupPod(t, in, newPod("client"))
	s.serve(t, ep, 8080, "ep")
	cip := s.serviceIP(3)
	good := webService(cip, network.Endpoint{IP: s.podIP(t, ep).String(), Ports: map[string]int{"http": 8080}})
	s.setServices(t, in, good)
	with := func(change func(*network.Service)) []network.Service {
		bad := good
		bad.Name = "bad"
		bad.ClusterIP = s.serviceIP(4).String()
		bad.Ports = slices.Clone(good.Ports)
		change(&bad)
		return []network.Service{good, bad}
	}
	for name, set := range map[string][]network.Service{
		"bad cluster IP":        with(func(s *network.Service) { s.ClusterIP = "10.0.0.300" }),
		"duplicate cluster IP":  with(func(s *network.Service) { s.ClusterIP = cip.String() }),
		"duplicate name":        with(func(s *network.Service) { s.Name = "web" }),
		"bad name":              with(func(s *network.Service) { s.Name = "Not_A_Label" }),
		"port 0":                with(func(s *network.Service) { s.Ports[0].Port = 0 }),
		"two ports with a name": with(func(s *network.Service) { s.Ports[1].Name = s.Ports[0].Name }),
		"bad endpoint IP":       with(func(s *network.Service) { s.Endpoints = []network.Endpoint{{IP: "nope"}} }),
		"bad endpoint port": with(func(s *network.Service) {
			s.Endpoints = []network.Endpoint{{IP: "10.0.0.1", Ports: map[string]int{"http": 70000}}}
		}),
		"two ports, one number":  with(func(s *network.Service) { s.Ports[1].Port = s.Ports[0].Port }),
		"cluster IP in the pods": with(func(s *network.Service) { s.ClusterIP = s.Endpoints[0].IP }),
	} {
		if err := in.SetServices(s.ctx(t), set); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("SetServices with %s: err = %v, want one wrapping base.ErrInvalid", name, err)
		}
	}
	sctp := with(func(s *network.Service) { s.Ports[0].Protocol = "SCTP" })
	if err := in.SetServices(s.ctx(t), sctp); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SetServices with an SCTP port: err = %v, want one wrapping base.ErrUnsupported", err)
	}
	// Nothing changed.
	if seen := names(t, client.NetNSPath, netip.AddrPortFrom(cip, 80), 3); seen["ep"] != 3 {
		t.Errorf("after rejected calls, connections to the service reached %v, want ep", seen)
	}
}

func (s *suite) testDNS(t *testing.T) {
	s.needNetNS(t)
	in := s.start(t, "")
	var pod network.PodNetwork
	for i, domain := range []string{"", "skiff-conformance.test"} {
		cfg := in.node.cfg
		cfg.ClusterDomain = domain
		st, err := in.SetupNode(s.ctx(t), cfg)
		if err != nil {
			t.Fatalf("SetupNode(%+v): %v", cfg, err)
		}
		dnsIP, err := netip.ParseAddr(st.DNSIP)
		if err != nil {
			t.Fatalf("NodeStatus.DNSIP = %q: the node serves no DNS", st.DNSIP)
		}
		if i == 0 {
			pod = s.setupPod(t, in, newPod("asker"))
		}
		zone := domain
		if zone == "" {
			zone = network.DefaultClusterDomain
		}
		cip := s.serviceIP(5)
		db1, db2 := s.podCIDR().Addr().Next().Next(), s.podCIDR().Addr().Next().Next().Next()
		s.setServices(t, in,
			webService(cip),
			network.Service{
				Namespace: svcNamespace, Name: "db", ClusterIP: "None",
				Ports:     []network.ServicePort{{Name: "pg", Port: 5432}},
				Endpoints: []network.Endpoint{{IP: db2.String(), Ports: map[string]int{"pg": 5432}}, {IP: db1.String(), Ports: map[string]int{"pg": 5432}}},
			})
		ask := func(name string, tcp bool, rcode dnsmessage.RCode, want ...netip.Addr) {
			t.Helper()
			got, err := queryA(pod.NetNSPath, dnsIP, name, tcp)
			if err != nil {
				t.Errorf("domain %q: query A %s (tcp %v) from a pod to %s: %v", zone, name, tcp, dnsIP, err)
				return
			}
			slices.SortFunc(got.ips, netip.Addr.Compare)
			if got.rcode != rcode || !slices.Equal(got.ips, want) {
				t.Errorf("domain %q: A %s (tcp %v) = %v %v, want %v %v", zone, name, tcp, got.rcode, got.ips, rcode, want)
			}
		}
		web := "web." + svcNamespace + ".svc." + zone + "."
		ask(web, false, dnsmessage.RCodeSuccess, cip)
		ask(web, true, dnsmessage.RCodeSuccess, cip)
		ask(strings.ToUpper(web), false, dnsmessage.RCodeSuccess, cip)
		ask("db."+svcNamespace+".svc."+zone+".", false, dnsmessage.RCodeSuccess, db1, db2)
		ask("nope."+svcNamespace+".svc."+zone+".", false, dnsmessage.RCodeNameError)
		ask("web.elsewhere.svc."+zone+".", true, dnsmessage.RCodeNameError)
		s.setServices(t, in)
		ask(web, false, dnsmessage.RCodeNameError)
	}
}

// nsSnapshot is what a node's namespace holds, for TeardownNode's check.
type nsSnapshot struct {
	links, addrs, routes, neighs, rules, sockets []string
}

func snapshot(t *testing.T, nsPath string) nsSnapshot {
	t.Helper()
	var snap nsSnapshot
	err := withHandle(nsPath, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		if err != nil {
			return err
		}
		name := map[int]string{}
		for _, l := range links {
			name[l.Attrs().Index] = l.Attrs().Name
			snap.links = append(snap.links, l.Attrs().Name+" "+l.Type())
		}
		addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.IP.IsLinkLocalUnicast() {
				continue // IPv6 link-local addresses come and go with links by themselves
			}
			snap.addrs = append(snap.addrs, name[a.LinkIndex]+" "+a.IPNet.String())
		}
		routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			snap.routes = append(snap.routes, fmt.Sprintf("table %d %v via %v dev %s", r.Table, r.Dst, r.Gw, name[r.LinkIndex]))
		}
		neighs, err := h.NeighList(0, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if n.State&netlink.NUD_PERMANENT != 0 {
				snap.neighs = append(snap.neighs, fmt.Sprintf("%s %s %s", name[n.LinkIndex], n.IP, n.HardwareAddr))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", nsPath, err)
	}
	err = inNetNS(nsPath, func() error {
		for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
			data, err := os.ReadFile("/proc/thread-self/net/" + f)
			if err != nil {
				continue // no IPv6
			}
			for _, line := range strings.Split(string(data), "\n")[1:] {
				fields := strings.Fields(line)
				// sl local_address rem_address st ...; st 0A is LISTEN.
				if len(fields) < 4 || strings.HasPrefix(f, "tcp") && fields[3] != "0A" {
					continue
				}
				snap.sockets = append(snap.sockets, f+" "+fields[1])
			}
		}
		if _, err := exec.LookPath("iptables-save"); err != nil {
			return nil
		}
		out, err := exec.Command("iptables-save").Output()
		if err != nil {
			return fmt.Errorf("iptables-save: %w", err)
		}
		table := ""
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, "*"):
				table = line[1:]
			case strings.HasPrefix(line, ":"):
				chain := strings.Fields(line[1:])
				if len(chain) > 1 && chain[1] == "-" { // user chain; built-in ones have a policy
					snap.rules = append(snap.rules, table+" chain "+chain[0])
				}
			case strings.HasPrefix(line, "-"):
				snap.rules = append(snap.rules, table+" "+line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", nsPath, err)
	}
	for _, l := range [][]string{snap.links, snap.addrs, snap.routes, snap.neighs, snap.rules, snap.sockets} {
		slices.Sort(l)
	}
	return snap
}

// diff reports what b has that a has not, and the reverse.
func diff(a, b []string) (added, removed []string) {
	for _, x := range b {
		if !slices.Contains(a, x) {
			added = append(added, x)
		}
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			removed = append(removed, x)
		}
	}
	return added, removed
}

func (s *suite) testTeardownNodeLeavesNothing(t *testing.T) {
	s.needNetNS(t)
	node := s.node(t, 0)
	before := snapshot(t, node.nsPath)
	in, _ := s.overlayNode(t, 0)
	s.setPeers(t, in, s.ghostPeer(t, 1))
	a := s.setupPod(t, in, newPod("a"))
	b := s.setupPod(t, in, newPod("b"))
	svcs := []network.Service{
		webService(s.serviceIP(6), network.Endpoint{IP: s.podIP(t, a).String(), Ports: map[string]int{"http": 8080}}),
		{Namespace: svcNamespace, Name: "empty", ClusterIP: s.serviceIP(7).String(), Ports: []network.ServicePort{{Port: 80}}},
		{Namespace: svcNamespace, Name: "headless", ClusterIP: "None", Endpoints: []network.Endpoint{{IP: s.podIP(t, b).String()}}},
	}
	s.setServices(t, in, svcs...)
	during := snapshot(t, node.nsPath)
	if added, _ := diff(before.links, during.links); len(added) == 0 {
		t.Fatalf("after SetupNode, SetPeers, SetServices and two pods, the node has no new links (%v): the check would prove nothing", during.links)
	}

	if err := in.TeardownNode(s.ctx(t)); err != nil {
		t.Fatalf("TeardownNode: %v", err)
	}
	after := snapshot(t, node.nsPath)
	for _, c := range []struct {
		what          string
		before, after []string
	}{
		{"links", before.links, after.links},
		{"addresses", before.addrs, after.addrs},
		{"routes", before.routes, after.routes},
		{"permanent neighbour entries", before.neighs, after.neighs},
		{"iptables chains and rules", before.rules, after.rules},
		{"listening sockets", before.sockets, after.sockets},
	} {
		if added, removed := diff(c.before, c.after); len(added)+len(removed) > 0 {
			t.Errorf("after TeardownNode, %s: left behind %q, lost %q", c.what, added, removed)
		}
	}
	for _, pn := range []network.PodNetwork{a, b} {
		if _, err := os.Stat(pn.NetNSPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after TeardownNode, pod %s's netns file %s: err = %v, want it gone", pn.Name, pn.NetNSPath, err)
		}
		if _, err := in.PodStatus(s.ctx(t), pn.PodRef); !errors.Is(err, base.ErrNotFound) {
			t.Errorf("after TeardownNode, PodStatus(%s): err = %v, want base.ErrNotFound", pn.Name, err)
		}
	}
	if mounts, err := mountsUnder(in.dataDir); err != nil || len(mounts) > 0 {
		t.Errorf("after TeardownNode, mounts under the data dir: %v (err %v), want none", mounts, err)
	}
	if pods, err := in.ListPods(s.ctx(t)); err != nil || len(pods) != 0 {
		t.Errorf("after TeardownNode, ListPods = %v, %v; want none", pods, err)
	}
	if _, err := in.SetupPod(s.ctx(t), newPod("late")); !errors.Is(err, network.ErrNodeNotSetUp) {
		t.Errorf("SetupPod after TeardownNode: err = %v, want network.ErrNodeNotSetUp", err)
	}
	if err := in.TeardownNode(s.ctx(t)); err != nil {
		t.Errorf("second TeardownNode = %v, want nil", err)
	}
}

// mountsUnder lists the mount points under dir.
func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out, nil
}
