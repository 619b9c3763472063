package overlay

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/skiffhq/skiff/sdk/network"
)

// askDNS asks server:53 from inside the plugin's node namespace; nil when
// there was no answer.
func askDNS(t *testing.T, o *Overlay, server, name string, qtype uint16, proto string) *dns.Msg {
	t.Helper()
	var resp *dns.Msg
	inNode(t, o, func() error {
		resp = exchange(t, net.JoinHostPort(server, "53"), name, qtype, proto)
		return nil
	})
	return resp
}

func exchange(t *testing.T, addr, name string, qtype uint16, proto string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Logf("DNS %s %s at %s over %s: %v", dns.TypeToString[qtype], name, addr, proto, err)
		return nil
	}
	return resp
}

// serveTestDNS runs s on a loopback UDP and TCP port and returns the
// address.
func serveTestDNS(t *testing.T, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

func testZone(t *testing.T, domain string, services ...network.Service) *dnsZone {
	t.Helper()
	plans, err := planServices(&nodeState{ClusterCIDR: "10.88.0.0/16"}, services)
	if err != nil {
		t.Fatal(err)
	}
	return buildZone(domain, plans)
}

func aRecords(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestDNSAnswers(t *testing.T) {
	var many []network.Endpoint
	for i := range 100 {
		many = append(many, network.Endpoint{IP: netip.AddrFrom4([4]byte{10, 88, 1, byte(i + 2)}).String()})
	}
	s := &dnsServer{}
	s.setZone(testZone(t, "cluster.local",
		network.Service{Namespace: "default", Name: "redis", ClusterIP: "10.96.0.7", Ports: []network.ServicePort{{Port: 6379}}},
		network.Service{Namespace: "shop", Name: "db", ClusterIP: "None", Endpoints: []network.Endpoint{{IP: "10.88.2.5"}, {IP: "10.88.1.9"}}},
		network.Service{Namespace: "shop", Name: "big", ClusterIP: "None", Endpoints: many},
	))
	addr := serveTestDNS(t, s)
	for _, tc := range []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"redis.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.7"}},
		{"Redis.DEFAULT.svc.Cluster.Local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.7"}},
		{"redis.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil}, // NODATA
		{"db.shop.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.88.1.9", "10.88.2.5"}},
		{"nope.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"redis.nope.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"redis.default.cluster.local.", dns.TypeA, dns.RcodeNameError, nil},
		{"default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		{"cluster.local.", dns.TypeA, dns.RcodeSuccess, nil},
		// Outside the domain, with no upstream: refused.
		{"example.org.", dns.TypeA, dns.RcodeRefused, nil},
		{"redis.", dns.TypeA, dns.RcodeRefused, nil},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r := exchange(t, addr, tc.name, tc.qtype, proto)
			if r == nil {
				t.Errorf("%s %s over %s: no answer", dns.TypeToString[tc.qtype], tc.name, proto)
				continue
			}
			if r.Rcode != tc.rcode || !slices.Equal(aRecords(r), tc.want) {
				t.Errorf("%s %s over %s = %s %v, want %s %v", dns.TypeToString[tc.qtype], tc.name, proto,
					dns.RcodeToString[r.Rcode], aRecords(r), dns.RcodeToString[tc.rcode], tc.want)
			}
			inZone := tc.rcode != dns.RcodeRefused
			if inZone && !r.Authoritative {
				t.Errorf("%s over %s: not authoritative", tc.name, proto)
			}
			if inZone && len(r.Answer) == 0 && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("%s over %s: negative answer without the zone's SOA: %v", tc.name, proto, r.Ns)
			}
			for _, rr := range r.Answer {
				if rr.Header().Ttl != dnsTTL || rr.Header().Name != tc.name {
					t.Errorf("%s over %s: record %v, want TTL %d and the asked name", tc.name, proto, rr, dnsTTL)
				}
			}
		}
	}
	// 100 addresses do not fit 512 bytes: truncated over UDP, whole over TCP.
	if r := exchange(t, addr, "big.shop.svc.cluster.local.", dns.TypeA, "udp"); r == nil || !r.Truncated {
		t.Errorf("100 A records over UDP: %v, want a truncated answer", r)
	}
	if r := exchange(t, addr, "big.shop.svc.cluster.local.", dns.TypeA, "tcp"); r == nil || len(aRecords(r)) != 100 || r.Truncated {
		t.Errorf("100 A records over TCP: got %d records", len(aRecords(r)))
	}
}

func TestDNSCustomDomain(t *testing.T) {
	s := &dnsServer{}
	s.setZone(testZone(t, "corp.example", network.Service{Namespace: "default", Name: "web", ClusterIP: "10.96.0.9"}))
	addr := serveTestDNS(t, s)
	if r := exchange(t, addr, "web.default.svc.corp.example.", dns.TypeA, "udp"); r == nil || !slices.Equal(aRecords(r), []string{"10.96.0.9"}) {
		t.Errorf("custom domain: %v", r)
	}
	if r := exchange(t, addr, "web.default.svc.cluster.local.", dns.TypeA, "udp"); r == nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("cluster.local with a custom domain and no upstream: %v, want REFUSED", r)
	}
}

// upstream answers every A question with 192.0.2.53.
type upstream struct{ asked chan string }

func (u upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.asked <- r.Question[0].Name
	m := new(dns.Msg)
	m.SetReply(r)
	m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(192, 0, 2, 53)})
	_ = w.WriteMsg(m)
}

func TestDNSForwards(t *testing.T) {
	up := upstream{asked: make(chan string, 10)}
	upAddr := serveTestDNS(t, up)
	// A dead upstream first: a closed loopback port answers at once.
	dead, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	s := &dnsServer{upstreams: []string{deadAddr, upAddr}}
	s.setZone(testZone(t, "cluster.local"))
	addr := serveTestDNS(t, s)
	for _, proto := range []string{"udp", "tcp"} {
		r := exchange(t, addr, "example.org.", dns.TypeA, proto)
		if r == nil || r.Rcode != dns.RcodeSuccess || !slices.Equal(aRecords(r), []string{"192.0.2.53"}) {
			t.Errorf("forwarded over %s: %v", proto, r)
		}
		select {
		case name := <-up.asked:
			if name != "example.org." {
				t.Errorf("upstream asked %q", name)
			}
		default:
			t.Errorf("over %s: the upstream was not asked", proto)
		}
	}
	// Names in the cluster domain are never forwarded.
	if r := exchange(t, addr, "nope.default.svc.cluster.local.", dns.TypeA, "udp"); r == nil || r.Rcode != dns.RcodeNameError || !r.RecursionAvailable {
		t.Errorf("unknown cluster name: %v, want NXDOMAIN with RA", r)
	}
	if len(up.asked) != 0 {
		t.Errorf("a cluster name went upstream: %q", <-up.asked)
	}
	// Every upstream dead: SERVFAIL.
	s2 := &dnsServer{upstreams: []string{deadAddr}}
	s2.setZone(testZone(t, "cluster.local"))
	if r := exchange(t, serveTestDNS(t, s2), "example.org.", dns.TypeA, "udp"); r == nil || r.Rcode != dns.RcodeServerFailure {
		t.Errorf("with a dead upstream: %v, want SERVFAIL", r)
	}
}

func TestUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# comment\nsearch example.com\nnameserver 192.0.2.10\nnameserver 2001:db8::1\nnameserver bogus\noptions ndots:2\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := resolvConfUpstreams(path); !slices.Equal(got, []string{"192.0.2.10:53", "[2001:db8::1]:53"}) {
		t.Errorf("resolvConfUpstreams = %v", got)
	}
	if got := resolvConfUpstreams(filepath.Join(t.TempDir(), "missing")); got != nil {
		t.Errorf("missing resolv.conf: %v", got)
	}
	for in, want := range map[string][]string{
		"none":                          nil,
		"192.0.2.1":                     {"192.0.2.1:53"},
		"192.0.2.1:5353, 192.0.2.2":     {"192.0.2.1:5353", "192.0.2.2:53"},
		"[2001:db8::2]:53,2001:db8::3 ": {"[2001:db8::2]:53", "[2001:db8::3]:53"},
	} {
		got, err := parseUpstreams(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseUpstreams(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseUpstreams("dns.example"); err == nil {
		t.Error("parseUpstreams(a host name): want an error")
	}
}
