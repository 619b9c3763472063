package overlay

import (
	"errors"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

var testNodeState = &nodeState{NodeName: "a", Bridge: "skiff0", PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.88.0.0/16"}

func TestPlanServices(t *testing.T) {
	svc := network.Service{
		Namespace: "default", Name: "web", ClusterIP: "10.96.0.10",
		Ports: []network.ServicePort{{Name: "http", Protocol: "tcp", Port: 80}, {Name: "dns", Protocol: "UDP", Port: 53}},
		Endpoints: []network.Endpoint{
			{IP: "10.88.2.7", Ports: map[string]int{"http": 8081, "dns": 5353}},
			{IP: "10.88.1.5", Ports: map[string]int{"http": 8080, "gone": 1}}, // a port the service no longer has
			{IP: "10.88.1.5", Ports: map[string]int{"dns": 5353}},             // the same pod in a second subset
			{IP: "10.88.2.7", Ports: map[string]int{"http": 8081}},            // listed twice
		},
	}
	plans, err := planServices(testNodeState, []network.Service{svc, {Namespace: "a", Name: "headless", ClusterIP: "None"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].key() != "a/headless" || plans[0].clusterIP.IsValid() {
		t.Fatalf("plans = %+v, want a/headless first, without a cluster IP", plans)
	}
	web := plans[1]
	str := func(bs []netip.AddrPort) (out []string) {
		for _, b := range bs {
			out = append(out, b.String())
		}
		return out
	}
	if got := str(web.ports[0].backends); web.ports[0].protocol != "tcp" || !slices.Equal(got, []string{"10.88.1.5:8080", "10.88.2.7:8081"}) {
		t.Errorf("http backends = %v (%s)", got, web.ports[0].protocol)
	}
	if got := str(web.ports[1].backends); web.ports[1].protocol != "udp" || !slices.Equal(got, []string{"10.88.1.5:5353", "10.88.2.7:5353"}) {
		t.Errorf("dns backends = %v (%s)", got, web.ports[1].protocol)
	}
	if len(web.endpointIPs) != 2 {
		t.Errorf("endpoint IPs = %v, want 2", web.endpointIPs)
	}
	if _, err := planServices(testNodeState, []network.Service{{Namespace: "a", Name: "s", Ports: []network.ServicePort{{Port: 1, Protocol: "SCTP"}}}}); !errors.Is(err, base.ErrUnsupported) {
		t.Errorf("SCTP: err = %v, want base.ErrUnsupported", err)
	}
	for name, set := range map[string][]network.Service{
		"bad namespace":      {{Namespace: "A", Name: "s"}},
		"empty name":         {{Namespace: "a"}},
		"IPv6 cluster IP":    {{Namespace: "a", Name: "s", ClusterIP: "fd00::1"}},
		"pod cluster IP":     {{Namespace: "a", Name: "s", ClusterIP: "10.88.5.5"}},
		"loopback":           {{Namespace: "a", Name: "s", ClusterIP: "127.0.0.5"}},
		"bad port name":      {{Namespace: "a", Name: "s", Ports: []network.ServicePort{{Name: "HTTP", Port: 80}}}},
		"port 65536":         {{Namespace: "a", Name: "s", Ports: []network.ServicePort{{Port: 65536}}}},
		"same port twice":    {{Namespace: "a", Name: "s", Ports: []network.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80, Protocol: "TCP"}}}},
		"endpoint target 0":  {{Namespace: "a", Name: "s", Ports: []network.ServicePort{{Port: 80}}, Endpoints: []network.Endpoint{{IP: "10.88.1.2", Ports: map[string]int{"": 0}}}}},
		"multicast endpoint": {{Namespace: "a", Name: "s", Endpoints: []network.Endpoint{{IP: "224.0.0.1"}}}},
		"twice":              {{Namespace: "a", Name: "s"}, {Namespace: "a", Name: "s"}},
		"shared cluster IP":  {{Namespace: "a", Name: "s", ClusterIP: "10.96.0.1"}, {Namespace: "a", Name: "t", ClusterIP: "10.96.0.1"}},
	} {
		if _, err := planServices(testNodeState, set); !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: err = %v, want base.ErrInvalid", name, err)
		}
	}
	// Same port number on two protocols is fine (DNS on 53/UDP and 53/TCP).
	if _, err := planServices(testNodeState, []network.Service{{Namespace: "a", Name: "dns", ClusterIP: "10.96.0.10",
		Ports: []network.ServicePort{{Name: "udp", Protocol: "UDP", Port: 53}, {Name: "tcp", Protocol: "TCP", Port: 53}}}}); err != nil {
		t.Errorf("53/UDP and 53/TCP: %v", err)
	}
}

func TestRenderServiceRules(t *testing.T) {
	eps := []network.Endpoint{
		{IP: "10.88.1.2", Ports: map[string]int{"": 8080}},
		{IP: "10.88.1.3", Ports: map[string]int{"": 8080}},
		{IP: "10.88.2.4", Ports: map[string]int{"": 8080}},
	}
	plans, err := planServices(testNodeState, []network.Service{
		{Namespace: "default", Name: "web", ClusterIP: "10.96.0.10", Ports: []network.ServicePort{{Port: 80}}, Endpoints: eps},
		{Namespace: "default", Name: "empty", ClusterIP: "10.96.0.11", Ports: []network.ServicePort{{Port: 81, Protocol: "UDP"}}},
		{Namespace: "default", Name: "headless", ClusterIP: "None", Ports: []network.ServicePort{{Port: 82}}, Endpoints: eps},
	})
	if err != nil {
		t.Fatal(err)
	}
	stale := "SKIFF-SVC-" + chainTag("skiff0") + "AAAAAAAAAAAA"
	other := "SKIFF-SVC-" + chainTag("other") + "AAAAAAAAAAAA"
	rules := renderServiceRules(testNodeState, plans, ownedServiceChains("skiff0", []string{stale, other, "PREROUTING"}))
	for _, want := range []string{
		"*nat\n:SKIFF-SVCS-skiff0 - [0:0]\n",
		`-A SKIFF-SVCS-skiff0 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -m comment --comment "default/web: cluster IP" -j SKIFF-SVC-`,
		`! -s 10.88.0.0/16 -m comment --comment "default/web: from outside the pods" -j MARK --set-xmark 0x4000/0x4000`,
		"--probability 0.3333333333 -j SKIFF-SEP-",
		"--probability 0.5000000000 -j SKIFF-SEP-",
		`-s 10.88.1.2/32 -m comment --comment "default/web: hairpin" -j MARK --set-xmark 0x4000/0x4000`,
		"-j DNAT --to-destination 10.88.2.4:8080\n",
		":" + stale + " - [0:0]\n",
		"-X " + stale + "\nCOMMIT\n",
		"*filter\n:SKIFF-NOEP-skiff0 - [0:0]\n",
		`-A SKIFF-NOEP-skiff0 -d 10.96.0.11/32 -p udp -m udp --dport 81 -m comment --comment "default/empty: has no endpoints" -j REJECT --reject-with icmp-port-unreachable`,
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}
	if strings.Contains(rules, other) {
		t.Errorf("rules touch another bridge's chain %s", other)
	}
	if strings.Contains(rules, "10.96.0.12") || strings.Contains(rules, "headless") {
		t.Errorf("a headless service got rules:\n%s", rules)
	}
	// The last endpoint is jumped to without a probability.
	if n := strings.Count(rules, "-m statistic"); n != 2 {
		t.Errorf("%d statistic rules for 3 endpoints, want 2", n)
	}
	for _, line := range strings.Split(rules, "\n") {
		for _, f := range regexp.MustCompile(`SKIFF-[A-Z]+-[A-Za-z0-9]+`).FindAllString(line, -1) {
			if len(f) > 28 {
				t.Errorf("chain %q is longer than 28 characters", f)
			}
		}
	}
	// Without bridge netfilter, pods of this node reaching local endpoints
	// are masqueraded.
	local := *testNodeState
	local.LocalMasq = true
	if r := renderServiceRules(&local, plans, nil); strings.Count(r, `-s 10.88.1.0/24 -m comment --comment "default/web: from this node's pods"`) != 2 {
		t.Errorf("with LocalMasq, want a masquerade rule for each of the 2 local endpoints:\n%s", r)
	}
}

// natRules returns iptables-save's nat table in the node namespace,
// without counters and comments lines.
func natRules(t *testing.T, o *Overlay, table string) string {
	t.Helper()
	var out []byte
	inNode(t, o, func() (err error) {
		out, err = exec.Command("iptables-save", "-t", table).Output()
		return err
	})
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func TestServiceRulesFullState(t *testing.T) {
	o, _ := setUpNode(t)
	ctx := t.Context()
	web := network.Service{Namespace: "default", Name: "web", ClusterIP: "198.51.100.10", Ports: []network.ServicePort{{Name: "http", Port: 80}},
		Endpoints: []network.Endpoint{{IP: "10.199.250.2", Ports: map[string]int{"http": 8080}}, {IP: "10.199.250.3", Ports: map[string]int{"http": 8080}}}}
	db := network.Service{Namespace: "default", Name: "db", ClusterIP: "198.51.100.11", Ports: []network.ServicePort{{Name: "pg", Port: 5432}},
		Endpoints: []network.Endpoint{{IP: "10.199.250.4", Ports: map[string]int{"pg": 5432}}}}
	if err := o.SetServices(ctx, []network.Service{web, db}); err != nil {
		t.Fatal(err)
	}
	first := natRules(t, o, "nat")
	if err := o.SetServices(ctx, []network.Service{db, web}); err != nil {
		t.Fatal(err)
	}
	if again := natRules(t, o, "nat"); again != first {
		t.Errorf("the same services again changed the rules:\n%s\nthen\n%s", first, again)
	}
	tag := chainTag(o.cfg.bridge)
	if n := strings.Count(first, ":SKIFF-SEP-"+tag); n != 3 {
		t.Errorf("%d endpoint chains, want 3:\n%s", n, first)
	}
	// db goes, web loses an endpoint: their chains go with them.
	web.Endpoints = web.Endpoints[:1]
	if err := o.SetServices(ctx, []network.Service{web}); err != nil {
		t.Fatal(err)
	}
	now := natRules(t, o, "nat")
	if strings.Count(now, ":SKIFF-SEP-"+tag) != 1 || strings.Count(now, ":SKIFF-SVC-"+tag) != 1 || strings.Contains(now, "198.51.100.11") || strings.Contains(now, "10.199.250.3") {
		t.Errorf("after db left and web lost an endpoint:\n%s", now)
	}
	if err := o.SetServices(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if now := natRules(t, o, "nat"); strings.Contains(now, "SKIFF-SVC-") || strings.Contains(now, "SKIFF-SEP-") || strings.Contains(now, "-A SKIFF-SVCS-") {
		t.Errorf("after SetServices(nil):\n%s", now)
	}
}

// TestServicesSurviveRestart: a new plugin process on the same data dir
// serves DNS and VIPs from the recorded services as soon as SetupNode ran,
// before the core sends them again.
func TestServicesSurviveRestart(t *testing.T) {
	o, nc := setUpNode(t)
	ctx := t.Context()
	svc := network.Service{Namespace: "default", Name: "redis", ClusterIP: "198.51.100.20", Ports: []network.ServicePort{{Port: 6379}},
		Endpoints: []network.Endpoint{{IP: "10.199.250.2", Ports: map[string]int{"": 6379}}}}
	if err := o.SetServices(ctx, []network.Service{svc}); err != nil {
		t.Fatal(err)
	}
	o.Close() // the old process dies
	again := New()
	t.Cleanup(again.Close)
	if err := again.Configure(ctx, base.Config{DataDir: o.cfg.dataDir, Settings: map[string]string{
		SettingBridge: o.cfg.bridge, SettingNetNS: o.cfg.host.path, SettingDNSUpstream: DNSUpstreamNone,
	}}); err != nil {
		t.Fatal(err)
	}
	st, err := again.SetupNode(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	r := askDNS(t, again, st.DNSIP, "redis.default.svc.cluster.local.", dns.TypeA, "udp")
	if r == nil || !slices.Equal(aRecords(r), []string{"198.51.100.20"}) {
		t.Errorf("after a restart, DNS answers %v, want the recorded service", r)
	}
	if rules := natRules(t, again, "nat"); !strings.Contains(rules, "-d 198.51.100.20/32") {
		t.Errorf("after a restart, rules:\n%s", rules)
	}
}
