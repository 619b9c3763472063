// Package daemon assembles skiffd's processes from the core's parts:
// `skiffd dev` (server + agent + embedded etcd on this host), `skiffd
// server` and `skiffd agent`.
package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/config"
	"github.com/skiffhq/skiff/core/pluginhost"
)

// Options configure skiffd. Zero values get the documented defaults.
type Options struct {
	DataDir string
	// Listen is the API server address (default 127.0.0.1:6443).
	Listen string
	// EtcdEndpoints points the server at an external etcd; empty embeds one.
	EtcdEndpoints []string
	// EtcdName is this server's member of EtcdInitialCluster (skiffd
	// server --etcd-name; etcd's --name). Empty, with EtcdInitialCluster
	// empty, embeds a single member (see ha.go).
	EtcdName string
	// EtcdInitialCluster lists the embedded etcd members of every server,
	// NAME=https://IP:PORT,... (--etcd-initial-cluster; etcd's
	// --initial-cluster); it is read at the first start only.
	EtcdInitialCluster string
	// EtcdPeerListen is where this server's member listens for its peers,
	// IP:PORT (--etcd-peer-listen; default: its URL in
	// EtcdInitialCluster).
	EtcdPeerListen string
	// EtcdInitialClusterState is "new" (or "") or "existing": a member added
	// to a running cluster (skiffctl etcd member add).
	EtcdInitialClusterState string
	// TLSSANs are more names and IPs of the API server's serving
	// certificate (--tls-san), e.g. a load balancer's address.
	TLSSANs []string
	// PluginDir holds the plugin binaries (default: beside skiffd).
	PluginDir string
	// ContainerdSocket is tried first; when nothing answers there, skiffd
	// starts containerd itself under DataDir/containerd.
	ContainerdSocket string
	NodeName         string
	// NodeIP is the agent's address (default 127.0.0.1 for dev).
	NodeIP string
	// AgentListen is where the agent serves the API server (default NodeIP:0).
	AgentListen string
	// Server is the API server an agent joins (skiffd agent).
	Server string
	// PKIDir holds the cluster CA an agent uses to get its certificates
	// (skiffd agent; default DataDir/pki).
	PKIDir string
	// WriteUserConfig also merges the admin config into ~/.skiff/config.
	WriteUserConfig bool
	ClusterCIDR     string
	NodeMaskBits    int
	BackoffBase     time.Duration
	// NodeGracePeriod is how long a node may go without renewing its Lease
	// before the server marks it NotReady (default 40s); it is also the
	// TTL of node Leases in etcd.
	NodeGracePeriod time.Duration
	// LeaderElect: the servers sharing one etcd elect the one that runs
	// the controllers and the scheduler (--leader-elect, on by default);
	// without it this server runs them. The timings are
	// leaderelection.Config's (zero: kube-controller-manager's defaults).
	LeaderElect                                     bool
	LeaseDuration, RenewDeadline, LeaderRetryPeriod time.Duration
	// HeartbeatInterval is how often the agent renews its node's Lease and
	// checks its status (default 10s).
	HeartbeatInterval time.Duration
	// SyncFrequency is how often the agent syncs a settled pod without an
	// event (agent.Config.SyncFrequency; the kubelet's --sync-frequency).
	SyncFrequency time.Duration
	// NodeRoles become the node's node-role.kubernetes.io/<role> labels
	// (default: control-plane for skiffd dev, none for an agent).
	NodeRoles []string
	// RegisterWithTaints are the node's taints when its agent creates the
	// Node (the kubelet's --register-with-taints; see ParseTaints). A Node
	// that exists keeps its taints.
	RegisterWithTaints []corev1.Taint
	// RuntimeNamespace is the containerd namespace of the node's images and
	// containers (default: the runtime plugin's, "skiff"): nodes sharing
	// one containerd each need their own.
	RuntimeNamespace string
	// JoinToken is the bootstrap token an agent joins with instead of the
	// cluster CA in PKIDir (skiffd agent --token).
	JoinToken string
	// CACertHash pins the server's CA ("sha256:<hex>" of its
	// SubjectPublicKeyInfo) when joining with a token.
	CACertHash string
	// TokenTTL is the lifetime of the bootstrap token `skiffd server`
	// makes at first start; 0 means it never expires (the --token-ttl
	// flag defaults to 24h, as kubeadm's).
	TokenTTL time.Duration
	// NodeCertTTL is the lifetime of the node client certificates the
	// server issues, at join and when agents renew them (their
	// CertificateSigningRequests); it also caps spec.expirationSeconds.
	// The --node-cert-ttl flag defaults to 8760h (Kubernetes'
	// --cluster-signing-duration); 0 means that default.
	NodeCertTTL time.Duration
	// ServiceCIDR is the range Service ClusterIPs come from (default
	// 10.96.0.0/12).
	ServiceCIDR string
	// PlainHTTPRegistries are registries pulled from over plain HTTP.
	PlainHTTPRegistries []string
	// AllowPrivileged lets the node run privileged containers.
	AllowPrivileged bool
	// AllowHostPath lets the node's pods mount hostPath volumes.
	AllowHostPath bool
	// PodBridge is the node's pod bridge (default: the network plugin's).
	PodBridge string
	// ContextName names the cluster in client configs (default "skiff").
	ContextName string
	// ConfigFile is skiffd's configuration file (core/config): the plugin
	// directory and profiles choosing each kind's plugin and settings.
	ConfigFile string
	// Profile is the profile of ConfigFile to run (default: the file's
	// defaultProfile; none means skiff's default plugins).
	Profile string
	Log     *slog.Logger

	// profile is the selected profile, loaded by defaults.
	profile *config.Selection
}

// minNodeCertTTL is the shortest --node-cert-ttl: agents need a few
// seconds to have a renewal signed.
const minNodeCertTTL = 10 * time.Second

func (o *Options) defaults() error {
	if err := o.absDataDir(); err != nil {
		return err
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir %s: %w", o.DataDir, err)
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:6443"
	}
	if err := o.loadConfig(); err != nil {
		return err
	}
	if err := o.nodeDefaults(); err != nil {
		return err
	}
	if o.NodeIP == "" {
		o.NodeIP = "127.0.0.1"
	}
	if net.ParseIP(o.NodeIP) == nil {
		return fmt.Errorf("--node-ip %q: not an IP address", o.NodeIP)
	}
	if o.AgentListen == "" {
		o.AgentListen = net.JoinHostPort(o.NodeIP, "0")
	}
	if o.PKIDir == "" {
		o.PKIDir = filepath.Join(o.DataDir, "pki")
	}
	if o.ClusterCIDR == "" {
		o.ClusterCIDR = "10.244.0.0/16"
	}
	if o.NodeMaskBits == 0 {
		o.NodeMaskBits = 24
	}
	if o.ContextName == "" {
		o.ContextName = "skiff"
	}
	if o.SyncFrequency < 0 {
		return fmt.Errorf("--sync-frequency %v: must be positive", o.SyncFrequency)
	}
	if o.NodeCertTTL != 0 && o.NodeCertTTL < minNodeCertTTL {
		return fmt.Errorf("--node-cert-ttl %v: must be at least %v (agents renew at 70-90%% of it)", o.NodeCertTTL, minNodeCertTTL)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

// loadConfig reads ConfigFile and selects Profile; the file's pluginDir
// applies unless --plugin-dir was given.
func (o *Options) loadConfig() error {
	if o.ConfigFile == "" {
		if o.Profile != "" {
			return fmt.Errorf("--profile %q needs --config FILE, where profiles are defined", o.Profile)
		}
		return nil
	}
	f, err := config.Load(o.ConfigFile)
	if err != nil {
		return err
	}
	if o.profile, err = f.Select(o.Profile); err != nil {
		return err
	}
	if o.PluginDir == "" {
		o.PluginDir = o.profile.PluginDir
	}
	return nil
}

// taintEffects are the effects a taint may have.
var taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// ParseTaints parses the value of --register-with-taints: comma-separated
// taints, each "key=value:Effect" or "key:Effect" (kubelet's syntax; the
// effect is required), as node-role.kubernetes.io/control-plane=:NoSchedule.
// The key must be a qualified name, the value a label value, the effect
// NoSchedule, PreferNoSchedule or NoExecute, and no key and effect may
// come twice; an error names the entry at fault. "" is no taint.
func ParseTaints(list string) ([]corev1.Taint, error) {
	if list == "" {
		return nil, nil
	}
	var taints []corev1.Taint
	for _, entry := range strings.Split(list, ",") {
		t, err := parseTaint(entry)
		if err != nil {
			return nil, fmt.Errorf("taint %q: %w", entry, err)
		}
		if slices.ContainsFunc(taints, func(o corev1.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect }) {
			return nil, fmt.Errorf("taint %q: key %q with effect %s is given twice (taints are unique by key and effect)", entry, t.Key, t.Effect)
		}
		taints = append(taints, t)
	}
	return taints, nil
}

func parseTaint(entry string) (corev1.Taint, error) {
	kv, effect, ok := cutLast(entry, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("want key=value:Effect or key:Effect, with Effect NoSchedule, PreferNoSchedule or NoExecute")
	}
	t := corev1.Taint{Effect: corev1.TaintEffect(effect)}
	t.Key, t.Value, _ = strings.Cut(kv, "=")
	if !slices.Contains(taintEffects, t.Effect) {
		return corev1.Taint{}, fmt.Errorf("effect %q is not NoSchedule, PreferNoSchedule or NoExecute", effect)
	}
	if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
		return corev1.Taint{}, fmt.Errorf("key %q: %s", t.Key, strings.Join(msgs, "; "))
	}
	if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
		return corev1.Taint{}, fmt.Errorf("value %q: %s", t.Value, strings.Join(msgs, "; "))
	}
	return t, nil
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// nodeDefaults fills in the plugin dir, containerd socket and node name,
// for the daemon and for reset.
func (o *Options) nodeDefaults() error {
	if o.PluginDir == "" {
		o.PluginDir = pluginhost.DefaultPluginDir()
	}
	if o.ContainerdSocket == "" {
		o.ContainerdSocket = "/run/containerd/containerd.sock"
	}
	if o.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node name: %w", err)
		}
		o.NodeName = h
	}
	return nil
}

// absDataDir requires --data-dir and makes it absolute.
func (o *Options) absDataDir() error {
	if o.DataDir == "" {
		return fmt.Errorf("--data-dir is required")
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", o.DataDir, err)
	}
	o.DataDir = abs
	return nil
}
