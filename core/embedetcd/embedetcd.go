// Package embedetcd runs etcd inside the skiffd process. Clients connect
// in-process (no network hop); the client listener etcd needs is on
// loopback only.
//
// A single member (Start, or StartWith without a Name) is the default for
// a one-server cluster: random loopback ports, plain http, nothing to
// configure. Several skiffd servers, each embedding one member of one
// etcd cluster ("stacked" etcd, as kubeadm calls it), give StartWith a
// Name and an InitialCluster: the member then listens for its peers on
// its URL of the initial cluster, over TLS with client-certificate
// authentication (PeerTLS), and Start waits until the cluster has a
// quorum.
package embedetcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/skiffhq/skiff/core/pki"
)

// Etcd is a running embedded etcd.
type Etcd struct {
	e      *embed.Etcd
	Client *clientv3.Client
	// Endpoint is the loopback client URL, for tools and benchmarks.
	Endpoint string
	close    sync.Once
}

// DefaultReadyTimeout is how long StartWith waits for etcd to serve when
// Options.ReadyTimeout is 0: for a member of several, long enough for the
// other servers to start too.
const DefaultReadyTimeout = 60 * time.Second

// initialClusterToken keeps members of different skiff clusters that can
// reach each other from forming one etcd cluster by mistake.
const initialClusterToken = "skiff-etcd"

// Options configure an embedded etcd. With Name, InitialCluster and
// PeerListen empty it is a single member (see Start).
type Options struct {
	// Dir is where etcd keeps its data (Dir/etcd) and its log
	// (Dir/etcd.log).
	Dir string
	// Name is this member's name in InitialCluster (etcd's --name).
	Name string
	// InitialCluster lists every member as NAME=https://IP:PORT,...
	// (etcd's --initial-cluster; see ParseInitialCluster). It is used at
	// the first start only: later starts read the membership from Dir, as
	// etcd does.
	InitialCluster string
	// PeerListen is the IP:PORT this member listens on for its peers
	// (default: the address of its URL in InitialCluster), e.g.
	// 0.0.0.0:2380 behind NAT (etcd's --listen-peer-urls).
	PeerListen string
	// ClusterState is ClusterStateNew (the default: the members of
	// InitialCluster start together and make a new cluster) or
	// ClusterStateExisting (this member was added to a running cluster
	// with AddMember, and InitialCluster is what that returned). Used at
	// the first start only, as InitialCluster; a member that is still a
	// learner promotes itself at any start.
	ClusterState string
	// PeerTLS secures peer traffic when InitialCluster is set.
	PeerTLS PeerTLS
	// ReadyTimeout bounds the wait for etcd to serve, that is for a quorum
	// of the members (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
}

// PeerTLS is the TLS of peer traffic: each member presents CertFile (a
// certificate valid for both server and client auth, with its peer IP as
// a SAN) to the others, and accepts only peers whose certificates verify
// against TrustedCAFile.
type PeerTLS struct {
	CertFile, KeyFile, TrustedCAFile string
	// AllowedCNs, when set, also restricts peers to certificates with one
	// of these common names (etcd's --peer-cert-allowed-cn), so that other
	// certificates of the same CA are not accepted as peers.
	AllowedCNs []string
}

// Member is one member of an initial cluster.
type Member struct {
	Name string
	// PeerURL is https://IP:PORT.
	PeerURL url.URL
}

// clustered reports whether o asks for a member of a cluster rather than
// the single-member default.
func (o Options) clustered() bool {
	return o.Name != "" || o.InitialCluster != "" || o.PeerListen != ""
}

// ParseInitialCluster parses NAME=https://IP:PORT,... Each name may come
// once and so may each URL; names are letters, digits, '.', '-' and '_';
// URLs are https with an IP address (not a host name, not 0.0.0.0) and a
// port, nothing else.
func ParseInitialCluster(s string) ([]Member, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no members: want NAME=https://IP:PORT, comma-separated")
	}
	var members []Member
	for _, entry := range strings.Split(s, ",") {
		name, rawURL, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if !ok || name == "" || rawURL == "" {
			return nil, fmt.Errorf("entry %q: want NAME=https://IP:PORT", entry)
		}
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		u, err := parsePeerURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("member %q: %w", name, err)
		}
		for _, m := range members {
			if m.Name == name {
				return nil, fmt.Errorf("member %q is listed twice", name)
			}
			if m.PeerURL == u {
				return nil, fmt.Errorf("members %q and %q have the same peer URL %s", m.Name, name, u.String())
			}
		}
		members = append(members, Member{Name: name, PeerURL: u})
	}
	return members, nil
}

func validName(name string) error {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("name may contain only letters, digits, '.', '-' and '_'")
		}
	}
	return nil
}

// parsePeerURL checks an advertised peer URL: https://IP:PORT.
func parsePeerURL(raw string) (url.URL, error) {
	const want = "want https://IP:PORT"
	u, err := url.Parse(raw)
	if err != nil {
		return url.URL{}, fmt.Errorf("peer URL %q: %s: %w", raw, want, err)
	}
	if u.Scheme != "https" {
		return url.URL{}, fmt.Errorf("peer URL %q: %s (peer traffic is TLS)", raw, want)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return url.URL{}, fmt.Errorf("peer URL %q: %s, without user, path or query", raw, want)
	}
	ip, port, err := parseIPPort(u.Host)
	if err != nil {
		return url.URL{}, fmt.Errorf("peer URL %q: %s: %w", raw, want, err)
	}
	if ip.IsUnspecified() {
		return url.URL{}, fmt.Errorf("peer URL %q: %s: %s is no address to reach a member at (listen on it with the peer listen address instead)", raw, want, ip)
	}
	return url.URL{Scheme: "https", Host: net.JoinHostPort(ip.String(), strconv.Itoa(port))}, nil
}

// parseIPPort parses IP:PORT with a port in 1-65535.
func parseIPPort(hostport string) (net.IP, int, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, 0, fmt.Errorf("%q is not IP:PORT", hostport)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, 0, fmt.Errorf("%q is not an IP address", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, 0, fmt.Errorf("port %q is not a number in 1-65535", portStr)
	}
	return ip, port, nil
}

// ParsePeerListen parses a peer listen address, IP:PORT; the IP may be
// 0.0.0.0 or ::.
func ParsePeerListen(s string) (url.URL, error) {
	ip, port, err := parseIPPort(s)
	if err != nil {
		return url.URL{}, err
	}
	return url.URL{Scheme: "https", Host: net.JoinHostPort(ip.String(), strconv.Itoa(port))}, nil
}

// Self is this member of o.InitialCluster, with the other members. It
// checks o as StartWith does.
func (o Options) Self() (self Member, others []Member, err error) {
	if o.Name == "" {
		return Member{}, nil, errors.New("a member of several needs its name")
	}
	if o.InitialCluster == "" {
		return Member{}, nil, fmt.Errorf("member %q: the initial cluster is required", o.Name)
	}
	members, err := ParseInitialCluster(o.InitialCluster)
	if err != nil {
		return Member{}, nil, fmt.Errorf("initial cluster: %w", err)
	}
	i := slices.IndexFunc(members, func(m Member) bool { return m.Name == o.Name })
	if i < 0 {
		names := make([]string, len(members))
		for j, m := range members {
			names[j] = m.Name
		}
		return Member{}, nil, fmt.Errorf("member name %q is not in the initial cluster (its members: %s)", o.Name, strings.Join(names, ", "))
	}
	return members[i], slices.Delete(slices.Clone(members), i, i+1), nil
}

// Validate checks o; an error names the field at fault.
func (o Options) Validate() error {
	if o.Dir == "" {
		return errors.New("embedded etcd: no data directory")
	}
	if o.ClusterState != "" && o.ClusterState != ClusterStateNew && o.ClusterState != ClusterStateExisting {
		return fmt.Errorf("initial cluster state %q: want %q or %q", o.ClusterState, ClusterStateNew, ClusterStateExisting)
	}
	if !o.clustered() {
		if o.ClusterState == ClusterStateExisting {
			return errors.New("initial cluster state \"existing\" needs a member name and an initial cluster (the one adding the member printed)")
		}
		return nil
	}
	if _, _, err := o.Self(); err != nil {
		return err
	}
	if o.PeerListen != "" {
		if _, err := ParsePeerListen(o.PeerListen); err != nil {
			return fmt.Errorf("peer listen address: %w", err)
		}
	}
	if o.PeerTLS.CertFile == "" || o.PeerTLS.KeyFile == "" || o.PeerTLS.TrustedCAFile == "" {
		return errors.New("peer TLS: a certificate, its key and the trusted CA are required")
	}
	return nil
}

// Start runs a single etcd member with its data under dir/etcd and waits
// until it serves: StartWith(ctx, Options{Dir: dir}).
func Start(ctx context.Context, dir string) (*Etcd, error) {
	return StartWith(ctx, Options{Dir: dir})
}

// StartWith runs etcd as o says and waits until it serves: for a member of
// several, until a quorum of the members runs, at most o.ReadyTimeout.
func StartWith(ctx context.Context, o Options) (*Etcd, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(o.Dir, "etcd")
	cfg.LogLevel = "warn"
	cfg.Logger = "zap"
	// etcd logs to its own file: its shutdown chatter is not skiffd's news.
	cfg.LogOutputs = []string{filepath.Join(o.Dir, "etcd.log")}
	var self Member
	var others []Member
	var err error
	if o.clustered() {
		if self, others, err = configureMember(cfg, o); err != nil {
			return nil, err
		}
	} else {
		cfg.InitialCluster = "" // set with the peer URL below
		// The peer URL changes at every start; a single member does not care.
		cfg.StrictReconfigCheck = false
	}
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "10000"
	e, err := startOnFreePorts(cfg, !o.clustered())
	if err != nil {
		if o.clustered() {
			return nil, fmt.Errorf("start embedded etcd member %q in %s: %w", o.Name, cfg.Dir, err)
		}
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	if o.clustered() {
		if err := checkMembership(e, self); err != nil {
			closeUnready(e)
			return nil, fmt.Errorf("embedded etcd member %q in %s: %w", o.Name, cfg.Dir, err)
		}
	}
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var waitErr error
	select {
	case <-e.Server.ReadyNotify():
	case <-timer.C:
		waitErr = fmt.Errorf("not ready after %v", timeout)
	case <-ctx.Done():
		waitErr = ctx.Err()
	case err := <-e.Err():
		waitErr = fmt.Errorf("failed before it was ready: %w", err)
	case <-e.Server.StopNotify():
		waitErr = fmt.Errorf("stopped before it was ready (see %s)", cfg.LogOutputs[0])
	}
	if waitErr != nil {
		closeUnready(e)
		if !o.clustered() {
			return nil, fmt.Errorf("embedded etcd in %s: %w", cfg.Dir, waitErr)
		}
		return nil, fmt.Errorf("embedded etcd member %q in %s: %w: %s", o.Name, cfg.Dir, waitErr, unreached(o.PeerTLS, others, cfg.LogOutputs[0]))
	}
	// A member added as a learner (AddMember) votes once it has caught
	// up: at its first start, or at a later one if that was cut short.
	if o.clustered() {
		if err := promoteSelf(ctx, e, timeout); err != nil {
			closeUnready(e)
			return nil, fmt.Errorf("embedded etcd member %q in %s: %w (it is still a learner: start the server again with the same flags, "+
				"or remove the member with skiffctl etcd member remove and empty the data dir)", o.Name, cfg.Dir, err)
		}
	}
	return &Etcd{e: e, Client: v3client.New(e.Server), Endpoint: cfg.AdvertiseClientUrls[0].String()}, nil
}

// closeUnready closes an etcd that is not (or not yet) ready: its server
// first, or Close would wait for client listeners that only serve once it
// is ready (as etcd's embed example does).
func closeUnready(e *embed.Etcd) {
	e.Server.Stop()
	e.Close()
}

// configureMember makes cfg a member of o.InitialCluster with peer TLS.
func configureMember(cfg *embed.Config, o Options) (self Member, others []Member, err error) {
	self, others, err = o.Self()
	if err != nil {
		return Member{}, nil, err
	}
	cfg.Name = o.Name
	listen := self.PeerURL
	if o.PeerListen != "" {
		if listen, err = ParsePeerListen(o.PeerListen); err != nil {
			return Member{}, nil, err
		}
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{listen}, []url.URL{self.PeerURL}
	all := make([]string, 0, len(others)+1)
	for _, m := range append([]Member{self}, others...) {
		all = append(all, m.Name+"="+m.PeerURL.String())
	}
	// Used at the first start only: once Dir holds a member, etcd reads
	// the membership from it.
	cfg.InitialCluster = strings.Join(all, ",")
	cfg.ClusterState = embed.ClusterStateFlagNew
	if o.ClusterState == ClusterStateExisting {
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	cfg.InitialClusterToken = initialClusterToken
	cfg.PeerTLSInfo = transport.TLSInfo{
		CertFile:       o.PeerTLS.CertFile,
		KeyFile:        o.PeerTLS.KeyFile,
		TrustedCAFile:  o.PeerTLS.TrustedCAFile,
		ClientCertAuth: true,
		AllowedCNs:     o.PeerTLS.AllowedCNs,
	}
	return self, others, nil
}

// checkMembership checks that the member etcd runs as has self's peer
// URL: a data dir made by a single-member start, or for other addresses,
// would otherwise run with the membership it holds, ignoring the initial
// cluster.
func checkMembership(e *embed.Etcd, self Member) error {
	m := e.Server.Cluster().Member(e.Server.MemberID())
	if m == nil {
		return nil // not known yet: a new member, made from the initial cluster
	}
	if slices.Contains(m.PeerURLs, self.PeerURL.String()) {
		return nil
	}
	return fmt.Errorf("its data dir holds a member with peer URLs %v, not %s (etcd reads the membership from an existing data dir, not from the initial cluster: "+
		"a data dir of a single-member skiffd cannot join a cluster; a member's new address must first be set with etcdctl member update)",
		m.PeerURLs, self.PeerURL.String())
}

// unreached says which of the other members do not answer on their peer
// URLs, with why, as the cause of a missing quorum.
func unreached(peerTLS PeerTLS, others []Member, logFile string) string {
	if len(others) == 0 {
		return "see " + logFile
	}
	client, err := peerClient(peerTLS)
	if err != nil {
		return fmt.Sprintf("cannot check the other members: %v; see %s", err, logFile)
	}
	defer client.CloseIdleConnections()
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	for i, m := range others {
		wg.Go(func() { errs[i] = probe(client, m.PeerURL) })
	}
	wg.Wait()
	var down, up []string
	for i, m := range others {
		if errs[i] != nil {
			down = append(down, fmt.Sprintf("%s (%s: %v)", m.Name, m.PeerURL.String(), errs[i]))
		} else {
			up = append(up, m.Name)
		}
	}
	if len(down) == 0 {
		return fmt.Sprintf("every other member answers (%s) but no quorum formed; see %s", strings.Join(up, ", "), logFile)
	}
	return fmt.Sprintf("members not reached: %s; start them, or check their peer addresses, the firewall and that every server has the same cluster CA (see %s)",
		strings.Join(down, ", "), logFile)
}

// peerClient is an HTTPS client that presents this member's peer
// certificate, as etcd does to its peers.
func peerClient(t PeerTLS) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("peer certificate: %w", err)
	}
	pool, err := pki.LoadCertPool(t.TrustedCAFile)
	if err != nil {
		return nil, fmt.Errorf("peer CA: %w", err)
	}
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12,
		}},
	}, nil
}

// probe asks a member's peer listener for its version.
func probe(c *http.Client, peerURL url.URL) error {
	resp, err := c.Get(peerURL.String() + "/version")
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return uerr.Err
		}
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// Close stops etcd; closing it again does nothing.
func (e *Etcd) Close() {
	e.close.Do(func() {
		e.Client.Close()
		e.e.Close()
	})
}

// startOnFreePorts starts etcd with a client URL (and, for a single
// member, a peer URL) on free loopback ports. A port is found free by
// listening on it and closing it, so another process may take it before
// etcd binds it: then new ports are tried, a few times.
func startOnFreePorts(cfg *embed.Config, peerToo bool) (*embed.Etcd, error) {
	for attempt := 1; ; attempt++ {
		clientURL, err := loopbackURL()
		if err != nil {
			return nil, err
		}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
		if peerToo {
			peerURL, err := loopbackURL()
			if err != nil {
				return nil, err
			}
			cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
			cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		}
		e, err := embed.StartEtcd(cfg)
		if err == nil || attempt == 5 || !addrInUse(err) {
			return e, err
		}
	}
}

func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func loopbackURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, fmt.Errorf("find a free loopback port for etcd: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return url.URL{Scheme: "http", Host: addr}, nil
}

// Connect dials an external etcd cluster.
func Connect(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	// Fail at start, not at the first request, when etcd does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "/skiff/health-check"); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd at %v does not answer: %w", endpoints, err)
	}
	return c, nil
}
