// Package agent is skiff's node agent — its kubelet. It registers the node,
// runs the pods bound to it through the node's plugins (network, volumes,
// runtime), reports their status, and serves the streaming verbs the API
// server relays (logs, image load).
//
// The pod lifecycle (init containers in order, restart policy, back-off,
// status) is Kubernetes semantics and lives here, not in a plugin. All of a
// pod's runtime state is found again from the runtime by labels, so a
// restarted agent re-adopts running containers instead of restarting them.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/events"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// Config is what an agent needs.
type Config struct {
	NodeName string
	// NodeIP is the node's address: pods' hostIP, and where the agent
	// serves NodeAgent for the API server.
	NodeIP string
	// ListenAddr is where NodeAgent is served ("NodeIP:10250" by default).
	ListenAddr string
	// Roles become node-role.kubernetes.io/<role> labels.
	Roles   []string
	DataDir string
	Client  *client.Client
	Plugins *pluginhost.Host
	// RegisterWithTaints are the Node's spec.taints when the agent creates
	// it, as the kubelet's --register-with-taints: an existing Node keeps
	// the taints it has (the agent does not own spec.taints).
	RegisterWithTaints []corev1.Taint
	// CA and ServingCert secure the NodeAgent server.
	CA          *pki.CA
	ServingCert pki.KeyPair
	// BackoffBase is the first restart back-off (Kubernetes: 10s); it
	// doubles up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// SyncPeriod is how often a pod that is changing (starting, waiting,
	// in back-off, terminating, or whose last sync failed) is synced again.
	SyncPeriod time.Duration
	// SyncFrequency is how often a settled pod (every container running
	// or done for good) is synced without an event: the kubelet's
	// --sync-frequency. Container changes reach its worker from the
	// relist (pleg.go) within RelistPeriod, pod changes from the watch,
	// ConfigMap and Secret changes from theirs (configwatch.go), probe
	// results from the probes plugin; the periodic sync is a fallback.
	// Default 10s.
	SyncFrequency time.Duration
	// RelistPeriod is how often the node's containers are listed to find
	// the pods whose containers changed (default 1s, the kubelet's PLEG).
	RelistPeriod time.Duration
	// HeartbeatInterval is how often the node's Lease is renewed and its
	// status checked (default 10s; lease.go).
	HeartbeatInterval time.Duration
	// ClusterCIDR is the whole pod network, handed to the network plugin.
	ClusterCIDR string
	// AllowPrivileged lets pods run privileged containers on this node.
	AllowPrivileged bool
	// AllowHostPath lets pods mount hostPath volumes on this node.
	AllowHostPath bool
	// PlainHTTPRegistries are pulled from over plain HTTP.
	PlainHTTPRegistries []string
	Log                 *slog.Logger
}

// Agent runs one node.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	recorder *events.Recorder

	mu      sync.Mutex
	pods    map[types.UID]*corev1.Pod
	workers map[types.UID]*podWorker
	// synced is true once the first full pod listing has been seen; only
	// then may containers of unknown pods be removed.
	synced bool
	// listRevision is the revision of the last full listing.
	listRevision int64

	pullMu  sync.Mutex
	pulling map[string]*sync.Mutex // per image ref: one pull at a time

	probeState *probeTracker
	plugins    *PluginReporter
	// configs watches the ConfigMaps and Secrets the pods use (configwatch.go).
	configs *configObjects

	// netStatus is what the network plugin's last SetupNode returned (set
	// in setupNetwork, read by pod workers): use nodeNetwork/setNodeNetwork.
	netMu     sync.Mutex
	netStatus network.NodeStatus
	// peerSet is the overlay peers handed to the network plugin (peers.go).
	peerSet peerSet

	// statusPosted is when the node's status was last written (node.go).
	statusMu     sync.Mutex
	statusPosted time.Time
}

// New makes an agent.
func New(cfg Config) *Agent {
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = heartbeatInterval
	}
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = time.Second
	}
	if cfg.SyncFrequency == 0 {
		cfg.SyncFrequency = DefaultSyncFrequency
	}
	if cfg.RelistPeriod == 0 {
		cfg.RelistPeriod = time.Second
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = net.JoinHostPort(cfg.NodeIP, "10250")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &Agent{
		cfg:      cfg,
		log:      cfg.Log.With("node", cfg.NodeName),
		recorder: events.NewRecorder(cfg.Client, "kubelet", cfg.NodeName),
		pods:     map[types.UID]*corev1.Pod{},
		workers:  map[types.UID]*podWorker{},
		pulling:  map[string]*sync.Mutex{},

		probeState: newProbeTracker(),
		plugins:    NewPluginReporter(cfg.Client, cfg.NodeName, cfg.Plugins),
	}
	a.configs = newConfigObjects(a)
	return a
}

// Run registers the node and runs its pods until ctx ends. Containers keep
// running when it returns.
func (a *Agent) Run(ctx context.Context) error {
	lis, err := net.Listen("tcp", a.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("node %q: listen for the API server on %s: %w", a.cfg.NodeName, a.cfg.ListenAddr, err)
	}
	srv, err := a.newNodeServer()
	if err != nil {
		lis.Close()
		return err
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	a.configs.start(ctx)

	port := lis.Addr().(*net.TCPAddr).Port
	node, err := a.register(ctx, port)
	if err != nil {
		return err
	}
	go a.renewLeaseLoop(ctx) // alive, though not Ready until the network is up
	if err := a.setupNetwork(ctx, node); err != nil {
		return err
	}
	a.postStatus(ctx, port) // Ready now that pods can get a network
	go a.heartbeat(ctx, port)
	go a.gcOrphans(ctx)
	go a.relistLoop(ctx)
	go a.watchProbeResults(ctx)
	a.cfg.Plugins.OnRestart(base.KindProbes, a.readdProbes)
	a.watchPods(ctx)
	return nil
}

func (a *Agent) runtime() (runtime.Runtime, error) {
	impl, err := a.cfg.Plugins.Get(base.KindRuntime)
	if err != nil {
		return nil, err
	}
	return impl.(runtime.Runtime), nil
}

func (a *Agent) network() (network.Network, error) {
	impl, err := a.cfg.Plugins.Get(base.KindNetwork)
	if err != nil {
		return nil, err
	}
	return impl.(network.Network), nil
}

func (a *Agent) volumes() (volumes.Volumes, error) {
	impl, err := a.cfg.Plugins.Get(base.KindVolumes)
	if err != nil {
		return nil, err
	}
	return impl.(volumes.Volumes), nil
}

// Labels the agent puts on every sandbox and container it makes.
const (
	LabelNode         = "skiff.dev/node"
	LabelPodUID       = "skiff.dev/pod-uid"
	LabelPodName      = "skiff.dev/pod-name"
	LabelPodNamespace = "skiff.dev/pod-namespace"
	LabelContainer    = "skiff.dev/container"
	LabelAttempt      = "skiff.dev/attempt"
	LabelInit         = "skiff.dev/init"
)

// nodeNetwork is what the network plugin's last SetupNode returned.
func (a *Agent) nodeNetwork() network.NodeStatus {
	a.netMu.Lock()
	defer a.netMu.Unlock()
	return a.netStatus
}

func (a *Agent) setNodeNetwork(st network.NodeStatus) {
	a.netMu.Lock()
	defer a.netMu.Unlock()
	a.netStatus = st
}
