package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/agent"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/controllers"
	"github.com/skiffhq/skiff/core/embedetcd"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/core/leaderelection"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/core/store"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// singleServerPluginNode is the NODE that `plugin ls` shows for the own
// plugins of a cluster's only server.
const singleServerPluginNode = "control-plane"

// runningServer is a started API server with its controllers.
type runningServer struct {
	ca *pki.CA
	// encryptionKeys encrypt Secrets at rest (made at first start).
	encryptionKeys []apiserver.EncryptionKey
	etcd           *embedetcd.Etcd
	etcdCli        *clientv3.Client
	api            *apiserver.Server
	plugins        *pluginhost.Host
	addr           string
	cancel         context.CancelFunc
	// controllersDone closes when the controllers (and, with leader
	// election, the release of the Lease) are done after cancel.
	controllersDone chan struct{}
	adminCfg        *clientconfig.Config
}

// startServer starts etcd (embedded unless endpoints are given), the API
// server, the scheduler plugin and the controllers.
func startServer(ctx context.Context, o *Options) (*runningServer, error) {
	s := &runningServer{}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	var err error
	if o.LeaderElect { // its timings, before anything starts
		if _, err := o.leaderElection(o.Listen); err != nil {
			return nil, err
		}
	}
	if err := o.validateHA(); err != nil {
		return nil, err
	}
	if s.ca, s.encryptionKeys, err = apiserver.LoadOrCreateClusterKeys(o.PKIDir); err != nil {
		return nil, err
	}
	if err := s.startEtcd(ctx, o); err != nil {
		return nil, err
	}
	if err := s.startAPI(o); err != nil {
		return nil, err
	}
	if s.adminCfg, err = writeAdminConfig(o, s.ca, s.addr); err != nil {
		return nil, err
	}
	if err := s.startControllers(ctx, o); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *runningServer) startEtcd(ctx context.Context, o *Options) error {
	if len(o.EtcdEndpoints) > 0 {
		c, err := embedetcd.Connect(o.EtcdEndpoints)
		if err != nil {
			return err
		}
		s.etcdCli = c
		return nil
	}
	eo, err := o.etcdMember()
	if err != nil {
		return err
	}
	if eo.Name != "" {
		// One member of several (ha.go): peers talk TLS.
		if err := etcdMemberTLS(&eo, o, s.ca); err != nil {
			return err
		}
	}
	e, err := embedetcd.StartWith(ctx, eo)
	if err != nil {
		return err
	}
	s.etcd, s.etcdCli = e, e.Client
	return nil
}

func (s *runningServer) startAPI(o *Options) error {
	// localhost, skiff-apiserver, loopback, the --listen IP, --tls-san.
	dnsNames, ips, err := servingSANs(o)
	if err != nil {
		return err
	}
	serving, err := s.ca.IssueServer("skiff-apiserver", dnsNames, ips)
	if err != nil {
		return err
	}
	toAgents, err := s.ca.IssueClient("skiff-apiserver", []string{pki.GroupAdmins})
	if err != nil {
		return err
	}
	membership := embedetcd.Membership{Client: s.etcdCli}
	if s.etcd != nil {
		membership.Self, membership.Stacked = s.etcd.MemberID(), o.EtcdName != ""
	}
	s.api, err = apiserver.New(apiserver.Config{Store: store.New(s.etcdCli), CA: nodeSigningCA(s.ca, o), ServingCert: serving, AgentClientCert: toAgents, EncryptionKeys: s.encryptionKeys,
		NodeLeaseTTL: o.NodeGracePeriod, Etcd: membership})
	if err != nil {
		return err
	}
	if o.ServiceCIDR != "" {
		if err := s.api.SetServiceCIDR(o.ServiceCIDR); err != nil {
			return fmt.Errorf("--service-cidr: %w", err)
		}
	}
	lis, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("API server: listen on %s: %w", o.Listen, err)
	}
	s.addr = lis.Addr().String()
	go func() { _ = s.api.Serve(lis) }()
	return nil
}

// writeAdminConfig writes DIR/admin.conf with an admin client certificate
// (kept across restarts) and, if asked, merges it into ~/.skiff/config.
func writeAdminConfig(o *Options, ca *pki.CA, addr string) (*clientconfig.Config, error) {
	path := filepath.Join(o.DataDir, "admin.conf")
	cfg, err := clientconfig.Load(path)
	if err != nil || len(cfg.Users) == 0 || string(cfg.Clusters[0].CertificateAuthorityData) != string(ca.CertPEM) {
		kp, err := ca.IssueClient("admin", []string{pki.GroupAdmins})
		if err != nil {
			return nil, err
		}
		cfg = clientconfig.New(o.ContextName, addr, ca.CertPEM, kp.CertPEM, kp.KeyPEM)
	}
	cfg.Clusters[0].Server = addr
	if err := cfg.Write(path); err != nil {
		return nil, err
	}
	if !o.WriteUserConfig {
		return cfg, nil
	}
	userPath, err := clientconfig.DefaultPath()
	if err != nil {
		return nil, err
	}
	return cfg, clientconfig.Modify(userPath, true, func(user *clientconfig.Config) error {
		user.Merge(cfg)
		return nil
	})
}

func (s *runningServer) startControllers(ctx context.Context, o *Options) error {
	cidr, err := netip.ParsePrefix(o.ClusterCIDR)
	if err != nil {
		return fmt.Errorf("--cluster-cidr %q: %w", o.ClusterCIDR, err)
	}
	r, err := s.adminCfg.Current("")
	if err != nil {
		return err
	}
	c, err := client.New(r)
	if err != nil {
		return err
	}
	s.plugins = pluginhost.New("", filepath.Join(o.DataDir, "plugins", "server"))
	err = s.plugins.Start(ctx, []pluginhost.Spec{o.profile.Apply(pluginhost.Spec{
		Kind: base.KindScheduler, Path: filepath.Join(o.PluginDir, "skiff-scheduler-binpack"),
		Versions: scheduler.ClientVersions(), DataDir: filepath.Join(o.DataDir, "plugins", "scheduler"),
	}, o.PluginDir)})
	if err != nil {
		return err
	}
	s.api.SetLocalPlugins(s.plugins, o.serverPluginNode()) // plugin logs/reload of the scheduler
	sched := &controllers.Scheduling{
		Client: c,
		Scheduler: func() (scheduler.Scheduler, error) {
			impl, err := s.plugins.Get(base.KindScheduler)
			if err != nil {
				return nil, err
			}
			return impl.(scheduler.Scheduler), nil
		},
		Recorder: events.NewRecorder(c, "default-scheduler", ""),
		Log:      o.Log.With("controller", "scheduling"),
	}
	s.plugins.OnRestart(base.KindScheduler, sched.Replay)
	terms := 0
	run := func(ctx context.Context) {
		// A server that leads again has a scheduler plugin whose view
		// stopped when it last led (pods deleted since are still counted):
		// a new process starts from the full view Run sends.
		if terms++; terms > 1 {
			if _, _, err := s.plugins.Reload(ctx, base.KindScheduler); err != nil {
				o.Log.Warn("restart the scheduler plugin for a new term", "error", err)
			}
		}
		s.runControllers(ctx, c, o, cidr, sched)
	}
	var el *leaderelection.Elector
	if o.LeaderElect {
		cfg, err := o.leaderElection(s.addr)
		if err != nil {
			return err
		}
		cfg.Client, cfg.Lead = c, run
		if el, err = leaderelection.New(cfg); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.controllersDone = make(chan struct{})
	if node := o.serverPluginNode(); node != singleServerPluginNode {
		// The other servers list this one's plugins from its reports, as
		// agents' (each lists its own live).
		go agent.NewPluginReporter(c, node, s.plugins).Run(cctx)
	}
	if el == nil {
		go func() { defer close(s.controllersDone); run(cctx) }()
		return nil
	}
	go func() { defer close(s.controllersDone); el.Run(cctx) }()
	return nil
}

// leaderElection is the leader election of this server, at listen
// address addr, checked, without Client and Lead. Its identity stays the
// same across restarts of the server, so that a restarted leader takes its
// Lease back at once, and is unique: node name and address for people to
// read, and an ID made at first start in the data dir for servers that
// share both (--listen 0.0.0.0 on cloned machines).
func (o *Options) leaderElection(addr string) (leaderelection.Config, error) {
	id, err := serverID(o.DataDir)
	if err != nil {
		return leaderelection.Config{}, err
	}
	cfg := leaderelection.Config{
		Namespace: metav1.NamespaceSystem, Name: ControllersLease, Identity: o.NodeName + "_" + addr + "_" + id,
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.LeaderRetryPeriod,
		Log: o.Log.With("component", "leaderelection"),
	}
	return cfg, cfg.Validate()
}

// serverID is a random ID made at this server's first start and kept in
// DIR/server-id.
func serverID(dir string) (string, error) {
	path := filepath.Join(dir, "server-id")
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data)), nil
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("server ID: %w", err)
	}
	id := hex.EncodeToString(b)
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("server ID: %w", err)
	}
	return id, nil
}

// serverPluginNode is the NODE `plugin ls` shows for this server's own
// plugins: "control-plane" for the one server of a cluster, and with
// several, "server:" and the server's etcd member name (its control-plane
// node in a cluster from `cluster create`), else its node name. The prefix
// keeps it apart from the agent of the same node, whose plugins are listed
// under the node's name.
func (o *Options) serverPluginNode() string {
	switch {
	case o.EtcdName != "":
		return "server:" + o.EtcdName
	case len(o.EtcdEndpoints) > 0:
		return "server:" + o.NodeName
	}
	return singleServerPluginNode
}

// ControllersLease is the Lease (in kube-system) that the servers sharing
// one etcd compete for: its holder runs the controllers and the scheduler.
const ControllersLease = "skiff-controller-manager"

// runControllers runs the scheduling loop and the controllers until ctx
// ends, and returns when they all have.
func (s *runningServer) runControllers(ctx context.Context, c *client.Client, o *Options, cidr netip.Prefix, sched *controllers.Scheduling) {
	runs := []func(context.Context){
		sched.Run,
		(&controllers.NodeIPAM{Client: c, ClusterCIDR: cidr, NodeMaskBits: o.NodeMaskBits, Log: o.Log.With("controller", "nodeipam")}).Run,
		(&controllers.NodeLifecycle{Client: c, GracePeriod: o.NodeGracePeriod, Log: o.Log.With("controller", "nodelifecycle")}).Run,
		(&controllers.Endpoints{Client: c, Log: o.Log.With("controller", "endpoints")}).Run,
		(&controllers.TokenCleaner{Client: c, Log: o.Log.With("controller", "tokencleaner")}).Run,
		(&controllers.CSRSigning{Client: c, CA: nodeSigningCA(s.ca, o), Log: o.Log.With("controller", "csrsigning")}).Run,
	}
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	wg.Wait()
}

func (s *runningServer) stop() {
	if s.cancel != nil {
		s.cancel()
		// The leader releases its Lease through this server's API, so
		// another server takes over at once: wait for that first.
		select {
		case <-s.controllersDone:
		case <-time.After(10 * time.Second):
		}
	}
	if s.plugins != nil {
		s.plugins.Stop()
	}
	if s.api != nil {
		s.api.Stop()
	}
	if s.etcd != nil {
		s.etcd.Close()
	} else if s.etcdCli != nil {
		s.etcdCli.Close()
	}
}
