package daemon

// Several `skiffd server`s behind a load balancer (docs/decisions.md,
// "Stacked etcd"): each embeds one member of one etcd cluster, named by
// --etcd-name in --etcd-initial-cluster, whose peers talk TLS with
// certificates of the cluster CA; --tls-san adds the load balancer's
// address to the API server's certificate.

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/pki"
)

// EtcdPeerCN is the common name of embedded etcd members' peer
// certificates; members accept no other certificate of the cluster CA as a
// peer (a node's or an admin's, say).
const EtcdPeerCN = "skiff-etcd-peer"

// Peer certificate files, under the PKI dir.
const (
	etcdPeerCertFile = "etcd-peer.crt"
	etcdPeerKeyFile  = "etcd-peer.key"
)

// validateHA checks the etcd member and TLS SAN options before anything
// starts; errors name the flag.
func (o *Options) validateHA() error {
	if _, _, err := ParseTLSSANs(o.TLSSANs); err != nil {
		return err
	}
	_, err := o.etcdMember()
	return err
}

// etcdMember is the embedded etcd member o asks for, without its peer TLS;
// the zero Options' Dir alone means a single member.
func (o *Options) etcdMember() (embedetcd.Options, error) {
	eo := embedetcd.Options{Dir: o.DataDir, Name: o.EtcdName, InitialCluster: o.EtcdInitialCluster, PeerListen: o.EtcdPeerListen, ClusterState: o.EtcdInitialClusterState}
	switch o.EtcdInitialClusterState {
	case "", embedetcd.ClusterStateNew, embedetcd.ClusterStateExisting:
	default:
		return eo, fmt.Errorf("--etcd-initial-cluster-state %q: want new or existing", o.EtcdInitialClusterState)
	}
	if o.EtcdName == "" && o.EtcdInitialCluster == "" && o.EtcdPeerListen == "" {
		if o.EtcdInitialClusterState == embedetcd.ClusterStateExisting {
			return eo, fmt.Errorf("--etcd-initial-cluster-state existing needs --etcd-name and --etcd-initial-cluster, as `skiffctl etcd member add` printed them")
		}
		return eo, nil
	}
	if len(o.EtcdEndpoints) > 0 {
		return eo, fmt.Errorf("--etcd-endpoints (an external etcd) and --etcd-name, --etcd-initial-cluster, --etcd-peer-listen (embedded members) exclude each other")
	}
	if o.EtcdInitialCluster == "" {
		return eo, fmt.Errorf("--etcd-name and --etcd-peer-listen need --etcd-initial-cluster NAME=https://IP:PORT,... (every server's member)")
	}
	if o.EtcdName == "" {
		return eo, fmt.Errorf("--etcd-initial-cluster needs --etcd-name, this server's member in it")
	}
	members, err := embedetcd.ParseInitialCluster(o.EtcdInitialCluster)
	if err != nil {
		return eo, fmt.Errorf("--etcd-initial-cluster %q: %w", o.EtcdInitialCluster, err)
	}
	if !slices.ContainsFunc(members, func(m embedetcd.Member) bool { return m.Name == o.EtcdName }) {
		names := make([]string, len(members))
		for i, m := range members {
			names[i] = m.Name
		}
		return eo, fmt.Errorf("--etcd-name %q is not a member of --etcd-initial-cluster (its members: %s)", o.EtcdName, strings.Join(names, ", "))
	}
	if o.EtcdPeerListen != "" {
		if _, err := embedetcd.ParsePeerListen(o.EtcdPeerListen); err != nil {
			return eo, fmt.Errorf("--etcd-peer-listen %q: want IP:PORT: %w", o.EtcdPeerListen, err)
		}
	}
	return eo, nil
}

// etcdMemberTLS completes a member's options with its peer TLS: a
// certificate of ca for its peer IP (and its listen IP, when that is a
// specific other one), kept in the PKI dir and issued again when those
// change.
func etcdMemberTLS(eo *embedetcd.Options, o *Options, ca *pki.CA) error {
	self, _, err := eo.Self()
	if err != nil {
		return err
	}
	ips := []net.IP{net.ParseIP(self.PeerURL.Hostname())}
	if eo.PeerListen != "" {
		listen, err := embedetcd.ParsePeerListen(eo.PeerListen)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(listen.Hostname()); !ip.IsUnspecified() && !ip.Equal(ips[0]) {
			ips = append(ips, ip)
		}
	}
	certPath, keyPath := filepath.Join(o.PKIDir, etcdPeerCertFile), filepath.Join(o.PKIDir, etcdPeerKeyFile)
	issued, err := ca.EnsureServerFiles(certPath, keyPath, EtcdPeerCN, nil, ips)
	if err != nil {
		return fmt.Errorf("etcd peer certificate: %w", err)
	}
	if issued {
		o.Log.Info("issued the etcd peer certificate", "member", eo.Name, "ips", ips, "file", certPath)
	}
	eo.PeerTLS = embedetcd.PeerTLS{CertFile: certPath, KeyFile: keyPath, TrustedCAFile: filepath.Join(o.PKIDir, "ca.crt"), AllowedCNs: []string{EtcdPeerCN}}
	return nil
}

// ParseTLSSANs checks --tls-san entries, each an IP address or a DNS name
// (a wildcard *.example.com too), comma-separated or not, and sorts them
// into names (lowercased) and IPs; repeats are dropped.
func ParseTLSSANs(entries []string) (dnsNames []string, ips []net.IP, err error) {
	for _, list := range entries {
		for _, entry := range strings.Split(list, ",") {
			san := strings.TrimSpace(entry)
			if ip := net.ParseIP(san); ip != nil {
				if !slices.ContainsFunc(ips, ip.Equal) {
					ips = append(ips, ip)
				}
				continue
			}
			if err := validTLSSANName(san); err != nil {
				return nil, nil, fmt.Errorf("--tls-san %q: %w", entry, err)
			}
			if name := strings.ToLower(san); !slices.Contains(dnsNames, name) {
				dnsNames = append(dnsNames, name)
			}
		}
	}
	return dnsNames, ips, nil
}

func validTLSSANName(san string) error {
	const want = "want an IP address or a DNS name"
	switch {
	case san == "":
		return fmt.Errorf("empty entry: %s", want)
	case strings.Contains(san, "://") || strings.Contains(san, "/"):
		return fmt.Errorf("%s, not a URL", want)
	case strings.Contains(san, ":"):
		return fmt.Errorf("%s, without a port", want)
	}
	name := strings.ToLower(san)
	var msgs []string
	if strings.HasPrefix(name, "*.") {
		msgs = validation.IsWildcardDNS1123Subdomain(name)
	} else {
		msgs = validation.IsDNS1123Subdomain(name)
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s: %s", want, strings.Join(msgs, "; "))
	}
	return nil
}

// servingSANs are the API server's certificate names and IPs: its
// defaults, the --listen IP and the --tls-san entries.
func servingSANs(o *Options) (dnsNames []string, ips []net.IP, err error) {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("--listen %q: %w", o.Listen, err)
	}
	dnsNames = []string{"localhost", "skiff-apiserver"}
	ips = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	if ip := net.ParseIP(host); ip != nil && !slices.ContainsFunc(ips, ip.Equal) {
		ips = append(ips, ip)
	}
	extraNames, extraIPs, err := ParseTLSSANs(o.TLSSANs)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range extraNames {
		if !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	for _, ip := range extraIPs {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	return dnsNames, ips, nil
}
