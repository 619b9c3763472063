package overlay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// Cluster DNS. Every node serves its own pods on the bridge's gateway
// address, port 53, UDP and TCP (what NodeStatus.DNSIP reports), from the
// services SetServices programmed:
//
//   - S.NS.svc.<domain>. A: the ClusterIP, or for a headless service the
//     endpoints' addresses. Pods reach the short forms (S, S.NS, S.NS.svc)
//     through the search path of their resolv.conf; the server itself only
//     answers fully qualified names, as CoreDNS does.
//   - <domain>., svc.<domain>. and NS.svc.<domain>. of a namespace with
//     services exist without records (NOERROR, no answer); every other
//     name in the domain is NXDOMAIN. Negative answers carry the zone's
//     SOA so resolvers cache them for its minimum TTL.
//   - Names outside the domain go to the upstream resolvers (setting
//     dns_upstream, by default the nameservers of the plugin's
//     /etc/resolv.conf) over the protocol the question came on; with none
//     they are REFUSED, and when every upstream fails, SERVFAIL. Upstream
//     queries leave from the plugin's own namespace (the machine's host),
//     not the node's: a node that is a namespace of the machine resolves
//     outside names the way the machine does.
//
// The server's sockets are opened in the node's namespace (hostNS.do); the
// goroutines that serve them run anywhere.

// dnsTTL is the TTL of cluster records, CoreDNS's default.
const dnsTTL = 5

// dnsZone is an immutable view of the cluster domain; setZone swaps it.
type dnsZone struct {
	origin string // "cluster.local."
	// a maps a lower-case FQDN to its addresses.
	a map[string][]net.IP
	// names are the other names that exist (empty non-terminals).
	names map[string]bool
	soa   *dns.SOA
}

func buildZone(domain string, plans []svcPlan) *dnsZone {
	origin := dns.Fqdn(strings.ToLower(domain))
	z := &dnsZone{
		origin: origin,
		a:      map[string][]net.IP{},
		names:  map[string]bool{origin: true, "svc." + origin: true},
		soa: &dns.SOA{
			Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: dnsTTL},
			Ns:      "ns.dns." + origin,
			Mbox:    "hostmaster." + origin,
			Serial:  uint32(time.Now().Unix()),
			Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: dnsTTL,
		},
	}
	for i := range plans {
		s := &plans[i]
		nsName := s.namespace + ".svc." + origin
		z.names[nsName] = true
		var ips []net.IP
		if s.clusterIP.IsValid() {
			ips = append(ips, net.IP(s.clusterIP.AsSlice()))
		} else {
			for _, ip := range s.endpointIPs {
				ips = append(ips, net.IP(ip.AsSlice()))
			}
		}
		z.a[s.name+"."+nsName] = ips
	}
	return z
}

// dnsServer serves one node's pods.
type dnsServer struct {
	addr      string // "10.88.1.1:53"
	host      hostNS
	udp, tcp  *dns.Server
	upstreams []string
	zone      atomic.Pointer[dnsZone]
}

// startDNS makes the node's DNS server listen on node.DNSIP:53, or keeps
// the running one if it already does. The caller holds o.mu.
func (o *Overlay) startDNS(c *config, node *nodeState) error {
	addr := net.JoinHostPort(node.DNSIP, "53")
	if o.dns != nil && o.dns.addr == addr && o.dns.host == c.host {
		o.dns.setZone(buildZone(node.ClusterDomain, nil))
		return nil
	}
	o.stopDNS()
	s := &dnsServer{addr: addr, host: c.host}
	for _, u := range c.upstreams {
		if u != addr { // never forward to ourselves
			s.upstreams = append(s.upstreams, u)
		}
	}
	s.setZone(buildZone(node.ClusterDomain, nil))
	var pc net.PacketConn
	var ln net.Listener
	// SO_REUSEPORT: a plugin restarted while its predecessor is still
	// dying (or, in tests, a second instance on the same node) takes over
	// the address instead of failing.
	lc := net.ListenConfig{Control: func(_, _ string, raw syscall.RawConn) error {
		var serr error
		err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		return errors.Join(err, serr)
	}}
	err := c.host.do(func() (err error) {
		if pc, err = lc.ListenPacket(context.Background(), "udp4", addr); err != nil {
			return err
		}
		if ln, err = lc.Listen(context.Background(), "tcp4", addr); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("DNS server on %s: %w", addr, err)
	}
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	o.dns = s
	return nil
}

// stopDNS stops the DNS server, if one runs. The caller holds o.mu.
func (o *Overlay) stopDNS() {
	if o.dns == nil {
		return
	}
	_ = o.dns.udp.Shutdown()
	_ = o.dns.tcp.Shutdown()
	o.dns = nil
}

func (s *dnsServer) setZone(z *dnsZone) { s.zone.Store(z) }

// ServeDNS implements dns.Handler.
func (s *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	_, overTCP := w.LocalAddr().(*net.TCPAddr)
	if r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		if len(r.Question) != 1 {
			m.SetRcode(r, dns.RcodeFormatError)
		}
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	z := s.zone.Load()
	if q.Qclass == dns.ClassINET && dns.IsSubDomain(z.origin, strings.ToLower(q.Name)) {
		m := z.answer(r)
		m.RecursionAvailable = len(s.upstreams) > 0
		if !overTCP {
			size := dns.MinMsgSize
			if opt := r.IsEdns0(); opt != nil {
				size = max(size, int(opt.UDPSize()))
				m.SetEdns0(opt.UDPSize(), false)
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
		return
	}
	_ = w.WriteMsg(s.forward(r, overTCP))
}

// answer answers a question inside the zone.
func (z *dnsZone) answer(r *dns.Msg) *dns.Msg {
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	ips, isService := z.a[name]
	switch {
	case isService:
		if q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY {
			for _, ip := range ips {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
					A:   ip,
				})
			}
		}
	case name == z.origin && q.Qtype == dns.TypeSOA:
		m.Answer = append(m.Answer, z.soa)
	case z.names[name]:
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = append(m.Ns, z.soa)
	}
	return m
}

// upstreamTimeout bounds one upstream exchange.
const upstreamTimeout = 2 * time.Second

// forward asks the upstreams in turn and returns the first answer.
func (s *dnsServer) forward(r *dns.Msg, overTCP bool) *dns.Msg {
	m := new(dns.Msg)
	if len(s.upstreams) == 0 {
		return m.SetRcode(r, dns.RcodeRefused)
	}
	client := &dns.Client{Net: "udp", Timeout: upstreamTimeout}
	if overTCP {
		client.Net = "tcp"
	}
	for _, u := range s.upstreams {
		resp, _, err := client.Exchange(r, u)
		if err == nil && resp != nil {
			resp.Id = r.Id
			return resp
		}
	}
	return m.SetRcode(r, dns.RcodeServerFailure)
}

// resolvConfUpstreams reads the nameservers of a resolv.conf file, as
// host:port. A missing file gives none.
func resolvConfUpstreams(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		// "nameserver fe80::1%eth0" carries a zone; netip keeps it.
		if a, err := netip.ParseAddr(fields[1]); err == nil {
			out = append(out, netip.AddrPortFrom(a, 53).String())
		}
	}
	return out
}
