package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// svcPlan is a validated Service.
type svcPlan struct {
	namespace, name string
	clusterIP       netip.Addr // invalid for a headless service
	ports           []portPlan
	// endpointIPs are the distinct endpoint addresses, sorted: what DNS
	// answers for a headless service.
	endpointIPs []netip.Addr
}

func (s *svcPlan) key() string { return s.namespace + "/" + s.name }

// portPlan is one port of a service's ClusterIP and its backends.
type portPlan struct {
	name     string
	protocol string // "tcp" or "udp", as iptables spells it
	port     int
	backends []netip.AddrPort // sorted, distinct
}

// planServices validates services against the node; the result is sorted
// by namespace and name. Nothing is changed on error.
func planServices(node *nodeState, services []network.Service) ([]svcPlan, error) {
	cluster := netip.MustParsePrefix(node.ClusterCIDR)
	byKey := map[string]bool{}
	byIP := map[netip.Addr]string{}
	out := make([]svcPlan, 0, len(services))
	for _, s := range services {
		p, err := planService(cluster, s)
		if err != nil {
			return nil, fmt.Errorf("service %q in %q: %w", s.Name, s.Namespace, err)
		}
		if byKey[p.key()] {
			return nil, fmt.Errorf("service %q in %q: listed twice: %w", s.Name, s.Namespace, base.ErrInvalid)
		}
		byKey[p.key()] = true
		if p.clusterIP.IsValid() {
			if other, dup := byIP[p.clusterIP]; dup {
				return nil, fmt.Errorf("service %q in %q: cluster IP %s is also service %s's: %w", s.Name, s.Namespace, p.clusterIP, other, base.ErrInvalid)
			}
			byIP[p.clusterIP] = p.key()
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, nil
}

func planService(cluster netip.Prefix, s network.Service) (svcPlan, error) {
	p := svcPlan{namespace: s.Namespace, name: s.Name}
	if !isDNSLabel(s.Namespace) {
		return p, fmt.Errorf("namespace %q is not a DNS label: %w", s.Namespace, base.ErrInvalid)
	}
	if !isDNSLabel(s.Name) {
		return p, fmt.Errorf("name %q is not a DNS label: %w", s.Name, base.ErrInvalid)
	}
	if s.ClusterIP != "" && s.ClusterIP != "None" {
		ip, err := netip.ParseAddr(s.ClusterIP)
		if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() {
			return p, fmt.Errorf("cluster IP %q is not a unicast IPv4 address: %w", s.ClusterIP, base.ErrInvalid)
		}
		if cluster.Contains(ip) {
			return p, fmt.Errorf("cluster IP %s is inside the pod network %s: %w", ip, cluster, base.ErrInvalid)
		}
		p.clusterIP = ip
	}
	names := map[string]bool{}
	ports := map[string]bool{}
	for _, sp := range s.Ports {
		pp := portPlan{name: sp.Name, port: sp.Port}
		if sp.Name != "" && !isDNSLabel(sp.Name) {
			return p, fmt.Errorf("port name %q is not a DNS label: %w", sp.Name, base.ErrInvalid)
		}
		if names[sp.Name] {
			return p, fmt.Errorf("port name %q is used twice: %w", sp.Name, base.ErrInvalid)
		}
		names[sp.Name] = true
		switch strings.ToUpper(sp.Protocol) {
		case "", network.ProtocolTCP:
			pp.protocol = "tcp"
		case network.ProtocolUDP:
			pp.protocol = "udp"
		default:
			return p, fmt.Errorf("port %q: protocol %q: only TCP and UDP are supported: %w", sp.Name, sp.Protocol, base.ErrUnsupported)
		}
		if sp.Port < 1 || sp.Port > 65535 {
			return p, fmt.Errorf("port %q: %d is not a port number: %w", sp.Name, sp.Port, base.ErrInvalid)
		}
		key := pp.protocol + "/" + strconv.Itoa(sp.Port)
		if ports[key] {
			return p, fmt.Errorf("port %q: %s is used twice: %w", sp.Name, key, base.ErrInvalid)
		}
		ports[key] = true
		p.ports = append(p.ports, pp)
	}
	ips := map[netip.Addr]bool{}
	for _, e := range s.Endpoints {
		ip, err := netip.ParseAddr(e.IP)
		if err != nil || !ip.Is4() || ip.IsUnspecified() || ip.IsMulticast() {
			return p, fmt.Errorf("endpoint %q is not a unicast IPv4 address: %w", e.IP, base.ErrInvalid)
		}
		if !ips[ip] {
			ips[ip] = true
			p.endpointIPs = append(p.endpointIPs, ip)
		}
		for i := range p.ports {
			target, ok := e.Ports[p.ports[i].name]
			if !ok {
				continue
			}
			if target < 1 || target > 65535 {
				return p, fmt.Errorf("endpoint %s: port %q: %d is not a port number: %w", ip, p.ports[i].name, target, base.ErrInvalid)
			}
			b := netip.AddrPortFrom(ip, uint16(target))
			if !slices.Contains(p.ports[i].backends, b) {
				p.ports[i].backends = append(p.ports[i].backends, b)
			}
		}
	}
	slices.SortFunc(p.endpointIPs, func(a, b netip.Addr) int { return a.Compare(b) })
	for i := range p.ports {
		slices.SortFunc(p.ports[i].backends, func(a, b netip.AddrPort) int { return a.Compare(b) })
	}
	return p, nil
}

// SetServices implements network.Network.
func (o *Overlay) SetServices(ctx context.Context, services []network.Service) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.configured()
	if err != nil {
		return err
	}
	if err := o.setServices(ctx, c, services); err != nil {
		return fmt.Errorf("set services: %w", err)
	}
	return nil
}

// setServices programs services (rules, DNS) and records them. The caller
// holds o.mu.
func (o *Overlay) setServices(ctx context.Context, c *config, services []network.Service) error {
	if o.node == nil {
		return fmt.Errorf("SetupNode has not run: %w", network.ErrNodeNotSetUp)
	}
	plans, err := planServices(o.node, services)
	if err != nil {
		return err
	}
	old, _ := planServices(o.node, o.services) // for conntrack clean-up only
	node := o.node
	err = c.host.do(func() error {
		chains, err := o.ipt.chains(ctx, "nat")
		if err != nil {
			return err
		}
		rules := renderServiceRules(node, plans, ownedServiceChains(c.bridge, chains))
		if err := o.ipt.restore(ctx, rules); err != nil {
			return fmt.Errorf("program service rules: %w", err)
		}
		flushStaleUDP(old, plans)
		return nil
	})
	if err != nil {
		return err
	}
	o.services = services
	if o.dns != nil {
		o.dns.setZone(buildZone(node.ClusterDomain, plans))
	}
	if len(services) == 0 {
		return removeFile(c.servicesFile())
	}
	return writeJSON(c.servicesFile(), services)
}

// Service chains, in kube-proxy's iptables-mode shape:
//
//	PREROUTING, OUTPUT → SKIFF-SVCS-<bridge>   one rule per ClusterIP:port
//	  → SKIFF-SVC-<tag><hash>                  one chain per service port:
//	                                           mark non-pod sources, then
//	                                           pick an endpoint at random
//	    → SKIFF-SEP-<tag><hash>                one chain per endpoint: mark
//	                                           hairpin traffic, DNAT
//	FORWARD (via SKIFF-FWD-<bridge>), OUTPUT → SKIFF-NOEP-<bridge>
//	                                           REJECT ports without endpoints
//
// <tag> is 4 characters derived from the bridge name, so the chains of two
// instances in one namespace never mix and each finds its own stale chains
// by prefix; <hash> (12 characters) names the service port or endpoint.
// Marked packets are masqueraded by SKIFF-MASQ-<bridge>.
const (
	svcChainPrefix = "SKIFF-SVC-"
	sepChainPrefix = "SKIFF-SEP-"
)

var chainHash = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return chainHash.EncodeToString(sum[:])
}

func chainTag(bridge string) string { return hashName("skiff chains " + bridge)[:4] }

func svcChainName(bridge string, s *svcPlan, p *portPlan) string {
	return svcChainPrefix + chainTag(bridge) + hashName(s.key() + ":" + p.name + "/" + p.protocol)[:12]
}

func sepChainName(bridge string, s *svcPlan, p *portPlan, b netip.AddrPort) string {
	return sepChainPrefix + chainTag(bridge) + hashName(s.key() + ":" + p.name + "/" + p.protocol + "→" + b.String())[:12]
}

// ownedServiceChains picks the SVC and SEP chains of bridge from a
// table's chain names.
func ownedServiceChains(bridge string, chains []string) []string {
	tag := chainTag(bridge)
	var out []string
	for _, ch := range chains {
		if strings.HasPrefix(ch, svcChainPrefix+tag) || strings.HasPrefix(ch, sepChainPrefix+tag) {
			out = append(out, ch)
		}
	}
	return out
}

// renderServiceRules is the iptables-restore input that makes the service
// chains exactly what plans ask for: SKIFF-SVCS-<bridge> and
// SKIFF-NOEP-<bridge> are rewritten, the SVC and SEP chains are declared
// (which flushes them) and filled, and owned chains no longer needed are
// flushed and deleted, all in one transaction per table.
func renderServiceRules(node *nodeState, plans []svcPlan, owned []string) string {
	bridge := node.Bridge
	podCIDR := netip.MustParsePrefix(node.PodCIDR)
	var decl, rules, reject strings.Builder
	declared := map[string]bool{}
	declare := func(chain string) {
		declared[chain] = true
		fmt.Fprintf(&decl, ":%s - [0:0]\n", chain)
	}
	rule := func(b *strings.Builder, chain string, args ...string) {
		b.WriteString("-A " + chain)
		for _, a := range args {
			b.WriteByte(' ')
			b.WriteString(a)
		}
		b.WriteByte('\n')
	}
	comment := func(s string) []string { return []string{"-m", "comment", "--comment", strconv.Quote(s)} }
	mark := []string{"-j", "MARK", "--set-xmark", masqMark}

	svcs := servicesChain(bridge)
	declare(svcs)
	for i := range plans {
		s := &plans[i]
		if !s.clusterIP.IsValid() {
			continue // headless: DNS only
		}
		cip := s.clusterIP.String() + "/32"
		for j := range s.ports {
			p := &s.ports[j]
			portName := s.key() + ":" + p.name
			match := []string{"-d", cip, "-p", p.protocol, "-m", p.protocol, "--dport", strconv.Itoa(p.port)}
			if len(p.backends) == 0 {
				rule(&reject, noEndpointsChain(bridge), slices.Concat(match, comment(portName+" has no endpoints"),
					[]string{"-j", "REJECT", "--reject-with", "icmp-port-unreachable"})...)
				continue
			}
			svc := svcChainName(bridge, s, p)
			declare(svc)
			rule(&rules, svcs, slices.Concat(match, comment(portName+" cluster IP"), []string{"-j", svc})...)
			rule(&rules, svc, slices.Concat([]string{"!", "-s", node.ClusterCIDR}, comment(portName+" from outside the pods"), mark)...)
			n := len(p.backends)
			for k, b := range p.backends {
				sep := sepChainName(bridge, s, p, b)
				declare(sep)
				args := comment(portName + " -> " + b.String())
				if k < n-1 {
					// Endpoint k of n is picked with probability 1/(n-k)
					// among those left: 1/n for each overall.
					args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%0.10f", 1/float64(n-k)))
				}
				rule(&rules, svc, append(args, "-j", sep)...)
				rule(&rules, sep, slices.Concat([]string{"-s", b.Addr().String() + "/32"}, comment(portName+" hairpin"), mark)...)
				if node.LocalMasq && podCIDR.Contains(b.Addr()) {
					rule(&rules, sep, slices.Concat([]string{"-s", podCIDR.String()}, comment(portName+" from this node's pods"), mark)...)
				}
				rule(&rules, sep, slices.Concat([]string{"-p", p.protocol}, comment(portName), []string{"-m", p.protocol, "-j", "DNAT", "--to-destination", b.String()})...)
			}
		}
	}
	var stale []string
	for _, ch := range owned {
		if !declared[ch] {
			declare(ch)
			stale = append(stale, ch)
		}
	}
	var out strings.Builder
	out.WriteString("*nat\n")
	out.WriteString(decl.String())
	out.WriteString(rules.String())
	for _, ch := range stale {
		out.WriteString("-X " + ch + "\n")
	}
	out.WriteString("COMMIT\n*filter\n")
	fmt.Fprintf(&out, ":%s - [0:0]\n", noEndpointsChain(bridge))
	out.WriteString(reject.String())
	out.WriteString("COMMIT\n")
	return out.String()
}

// removeServiceChains deletes the SVC and SEP chains of the bridge. It
// runs in the node's namespace, after SKIFF-SVCS-<bridge> is gone.
func (o *Overlay) removeServiceChains(ctx context.Context, c *config) error {
	chains, err := o.ipt.chains(ctx, "nat")
	if err != nil {
		return fmt.Errorf("service chains: %w", err)
	}
	owned := ownedServiceChains(c.bridge, chains)
	if len(owned) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, ch := range owned {
		b.WriteString(":" + ch + " - [0:0]\n")
	}
	for _, ch := range owned {
		b.WriteString("-X " + ch + "\n")
	}
	b.WriteString("COMMIT\n")
	if err := o.ipt.restore(ctx, b.String()); err != nil {
		return fmt.Errorf("service chains: %w", err)
	}
	return nil
}

// flushStaleUDP deletes conntrack entries that would keep UDP flows on a
// path SetServices just changed: flows to an endpoint that left a service
// port (UDP has no connection to end, so the entry would live on), and
// flows to a ClusterIP port that had no endpoints (their entries recorded
// no DNAT). It is best effort: the entries time out anyway.
func flushStaleUDP(old, plans []svcPlan) {
	type key struct {
		cip  netip.Addr
		port int
	}
	before := map[key][]netip.AddrPort{}
	for i := range old {
		for _, p := range old[i].ports {
			if p.protocol == "udp" && old[i].clusterIP.IsValid() {
				before[key{old[i].clusterIP, p.port}] = p.backends
			}
		}
	}
	var filters []netlink.CustomConntrackFilter
	for i := range plans {
		for _, p := range plans[i].ports {
			k := key{plans[i].clusterIP, p.port}
			prev, ok := before[k]
			if p.protocol != "udp" || !ok {
				continue
			}
			if len(prev) == 0 && len(p.backends) > 0 {
				filters = append(filters, udpFilter(k.cip, netip.Addr{}))
			}
			for _, b := range prev {
				if !slices.Contains(p.backends, b) {
					filters = append(filters, udpFilter(k.cip, b.Addr()))
				}
			}
		}
	}
	for k, prev := range before {
		gone := !slices.ContainsFunc(plans, func(s svcPlan) bool {
			return s.clusterIP == k.cip && slices.ContainsFunc(s.ports, func(p portPlan) bool { return p.protocol == "udp" && p.port == k.port })
		})
		if gone && len(prev) > 0 {
			filters = append(filters, udpFilter(k.cip, netip.Addr{}))
		}
	}
	if len(filters) > 0 {
		_, _ = netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	}
}

func udpFilter(clusterIP, backend netip.Addr) *netlink.ConntrackFilter {
	f := &netlink.ConntrackFilter{}
	_ = f.AddProtocol(unix.IPPROTO_UDP)
	_ = f.AddIP(netlink.ConntrackOrigDstIP, net.IP(clusterIP.AsSlice()))
	if backend.IsValid() {
		_ = f.AddIP(netlink.ConntrackReplySrcIP, net.IP(backend.AsSlice()))
	}
	return f
}
