// Package cluster makes multi-node skiff clusters on one machine, as kind
// does with Docker: `skiffctl cluster create|delete|ls`.
//
// # Design
//
// A cluster named N lives under <root>/N (root: /var/lib/skiff/clusters,
// or $SKIFF_CLUSTERS_DIR), with its state in state.json. It has
//
//   - a host bridge "sk-N" holding 172.31.<k>.1/24, a /24 no address or
//     route of the host uses (and no other cluster);
//   - one network namespace per node ("skiff-<node>", kept by `ip netns`),
//     joined to the bridge by a veth ("skh<k>n<i>" on the host, eth0 in the
//     node) with the node's "host IP" 172.31.<k>.<10+i>/24 and a default
//     route through the bridge;
//   - one containerd for the whole cluster (under the state dir, or a
//     socket given with --containerd-socket), each node using its own
//     containerd namespace "skiff-<node>";
//   - `skiffd server` in the host's namespace, listening on the bridge
//     address, and one `skiffd agent --token` per node (the control plane
//     too: it is labeled control-plane and, when the cluster has workers,
//     tainted node-role.kubernetes.io/control-plane:NoSchedule as kind
//     does), each started inside its node's
//     network namespace (the fork happens on a thread that joined it: the
//     agent keeps the host's mount namespace, so the pod namespaces its
//     network plugin bind-mounts are visible to containerd). Every node
//     runs its own plugins, with its own data dir, pod bridge (skiff0 in
//     its namespace), VXLAN device and iptables rules; the server splits
//     the cluster CIDR (10.244.0.0/16) into a /24 per node and the agents
//     publish their VTEP MACs, so pods reach each other across the VXLAN
//     overlay between the node namespaces.
//
// Processes are started detached (their own session) and recorded in
// state.json with their start times, so `cluster delete`, from any process,
// ends exactly them (SIGTERM, then SIGKILL) and never a reused PID. Delete
// then removes the cluster's containers, tears each node's network down
// with the network plugin's TeardownNode run inside the node's namespace,
// unmounts what is left under the state dir, deletes the namespaces,
// veths and bridge, the state dir, and the cluster's context from the
// user's client config. The host gets no iptables rules: nodes talk over
// the bridge.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/containerdproc"
	"github.com/skiffhq/skiff/core/controllers"
	"github.com/skiffhq/skiff/core/pki"
)

// EnvStateRoot overrides DefaultStateRoot.
const EnvStateRoot = "SKIFF_CLUSTERS_DIR"

// DefaultName is the cluster's name when none is given (kind's "kind").
const DefaultName = "skiff"

// DefaultClusterCIDR is the pod network of a cluster.
const DefaultClusterCIDR = "10.244.0.0/16"

// StateRoot is $SKIFF_CLUSTERS_DIR, else /var/lib/skiff/clusters.
func StateRoot() string {
	if d := os.Getenv(EnvStateRoot); d != "" {
		return d
	}
	return "/var/lib/skiff/clusters"
}

// ContextName is the client config context of cluster name.
func ContextName(name string) string { return "skiff-" + name }

// Options configure Create.
type Options struct {
	Name   string
	Config *Config // default DefaultConfig()
	// ImageArchive is loaded onto every node once they are Ready.
	ImageArchive string
	// Root is the directory of all clusters (default StateRoot()).
	Root string
	// Skiffd is the skiffd binary (default: beside this executable, then
	// $PATH); PluginDir the plugins' (default: beside skiffd).
	Skiffd    string
	PluginDir string
	// ContainerdSocket, when set, is used instead of starting a containerd
	// for the cluster.
	ContainerdSocket string
	// UserConfig is the client config the cluster's context is merged
	// into (default: $SKIFFCONFIG, else ~/.skiff/config).
	UserConfig string
	// NodeGracePeriod and HeartbeatInterval are passed to skiffd (0: its
	// defaults, 40s and 10s).
	NodeGracePeriod time.Duration
	// NodeCertTTL is skiffd server's --node-cert-ttl (0: its default).
	NodeCertTTL       time.Duration
	HeartbeatInterval time.Duration
	// Timeout bounds the wait for Ready nodes (default 2m).
	Timeout time.Duration
	// Progress gets one line per step (may be nil).
	Progress io.Writer
}

// Proc is a process the cluster started.
type Proc struct {
	PID int `json:"pid"`
	// StartTime is the process's start time in clock ticks after boot
	// (/proc/PID/stat field 22), which tells it from a later process that
	// got the same PID.
	StartTime uint64   `json:"startTime"`
	Args      []string `json:"args,omitempty"`
	Log       string   `json:"log,omitempty"`
}

// NodeState is a node of a cluster.
type NodeState struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// NetNS is the node's network namespace (`ip netns` name).
	NetNS string `json:"netns"`
	IP    string `json:"ip"`
	// HostVeth is the host end of the node's link to the bridge.
	HostVeth         string `json:"hostVeth"`
	DataDir          string `json:"dataDir"`
	RuntimeNamespace string `json:"runtimeNamespace"`
	Agent            Proc   `json:"agent"`
	// Server and ServerDataDir are a control-plane node's API server in a
	// cluster with several control-plane nodes (ha.go); empty otherwise.
	Server        Proc   `json:"server,omitempty"`
	ServerDataDir string `json:"serverDataDir,omitempty"`
}

// State is what a cluster is made of, kept in <root>/<name>/state.json.
type State struct {
	Name        string    `json:"name"`
	Dir         string    `json:"dir"`
	Subnet      int       `json:"subnet"` // k of 172.31.k.0/24
	Bridge      string    `json:"bridge"`
	BridgeIP    string    `json:"bridgeIP"`
	Server      string    `json:"server"` // API server address
	ClusterCIDR string    `json:"clusterCIDR"`
	Created     time.Time `json:"created"`
	// Containerd is the cluster's own containerd (PID 0 when a socket was
	// given).
	Containerd       Proc   `json:"containerd"`
	ContainerdSocket string `json:"containerdSocket"`
	// ServerProc is the API server of a cluster with one control-plane
	// node. With several (ha.go), each node has its own and ServerDataDir
	// is the first one's.
	ServerProc    Proc        `json:"serverProc"`
	ServerDataDir string      `json:"serverDataDir"`
	Nodes         []NodeState `json:"nodes"`
	// LoadBalancer fronts the servers of a cluster with several
	// control-plane nodes, on Server.
	LoadBalancer Proc `json:"loadBalancer,omitempty"`
	// UserConfig is the client config the context was merged into.
	UserConfig string `json:"userConfig,omitempty"`
	// Skiffd is the binary the cluster runs.
	Skiffd string `json:"skiffd"`
}

func (s *State) file() string { return filepath.Join(s.Dir, "state.json") }

func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.file() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("cluster %q: save state: %w", s.Name, err)
	}
	return os.Rename(tmp, s.file())
}

// Load reads cluster name's state under root ("" = StateRoot()).
func Load(root, name string) (*State, error) {
	if root == "" {
		root = StateRoot()
	}
	data, err := os.ReadFile(filepath.Join(root, name, "state.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cluster %q not found (under %s): %w", name, root, err)
		}
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("cluster %q: state: %w", name, err)
	}
	return &s, nil
}

// List lists the clusters under root ("" = StateRoot()), by name.
func List(root string) ([]*State, error) {
	if root == "" {
		root = StateRoot()
	}
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	var out []*State
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if s, err := Load(root, e.Name()); err == nil {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func (o *Options) defaults() error {
	if o.Config == nil {
		o.Config = DefaultConfig()
	}
	if o.Name == "" {
		o.Name = o.Config.Name
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := checkName(o.Name); err != nil {
		return err
	}
	if err := controllers.ValidateNodeTimings(o.NodeGracePeriod, o.HeartbeatInterval); err != nil {
		return err
	}
	if o.Root == "" {
		o.Root = StateRoot()
	}
	if o.Skiffd == "" {
		if exe, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(exe), "skiffd"); fileExists(p) {
				o.Skiffd = p
			}
		}
	}
	if o.Skiffd == "" {
		p, err := exec.LookPath("skiffd")
		if err != nil {
			return fmt.Errorf("skiffd not found beside skiffctl or in $PATH: %w", err)
		}
		o.Skiffd = p
	}
	if o.PluginDir == "" {
		o.PluginDir = filepath.Dir(o.Skiffd)
	}
	if o.UserConfig == "" {
		p, err := clientconfig.ResolvePath("")
		if err != nil {
			return err
		}
		o.UserConfig = p
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Create makes the cluster and waits until every node is Ready. On failure
// it removes what it made.
func Create(ctx context.Context, o Options) (st *State, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("cluster state root: %w", err)
	}
	dir := filepath.Join(root, o.Name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("cluster %q already exists (%s); delete it first", o.Name, dir)
		}
		return nil, fmt.Errorf("cluster %q: %w", o.Name, err)
	}
	taken := map[int]bool{}
	if others, err := List(root); err == nil {
		for _, c := range others {
			taken[c.Subnet] = true
		}
	}
	k, err := pickSubnet(taken)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	cidr := DefaultClusterCIDR
	if o.Config.Networking != nil && o.Config.Networking.PodSubnet != "" {
		cidr = o.Config.Networking.PodSubnet
	}
	st = &State{
		Name: o.Name, Dir: dir, Subnet: k, Bridge: "sk-" + o.Name, BridgeIP: fmt.Sprintf("172.31.%d.1", k),
		ClusterCIDR: cidr, Created: time.Now().UTC(), ServerDataDir: filepath.Join(dir, "server"), Skiffd: o.Skiffd,
	}
	st.Server = st.BridgeIP + ":" + serverPort
	names := nodeNames(o.Name, o.Config.Nodes)
	cps := 0
	for _, n := range names {
		if n.Role == RoleControlPlane {
			cps++
		}
	}
	for i, n := range names {
		ns := NodeState{
			Name: n.Name, Role: n.Role, NetNS: "skiff-" + n.Name, IP: fmt.Sprintf("172.31.%d.%d", k, 10+i),
			HostVeth: fmt.Sprintf("skh%dn%d", k, i), DataDir: filepath.Join(dir, "nodes", n.Name), RuntimeNamespace: "skiff-" + n.Name,
		}
		if cps > 1 && n.Role == RoleControlPlane {
			ns.ServerDataDir = filepath.Join(dir, "servers", n.Name)
			if st.ServerDataDir == filepath.Join(dir, "server") {
				st.ServerDataDir = ns.ServerDataDir // the first: join token, admin config
			}
		}
		st.Nodes = append(st.Nodes, ns)
	}
	if err := st.save(); err != nil {
		os.Remove(dir)
		return nil, err
	}
	defer func() {
		if err != nil {
			if derr := st.delete(context.Background(), o.Progress); derr != nil {
				err = fmt.Errorf("%w (and cleaning up: %v)", err, derr)
			}
		}
	}()
	start := time.Now()
	if err := st.makeNetwork(); err != nil {
		return st, err
	}
	o.progress(" ✓ Node network %s (%s.0/24), %d node namespaces", st.Bridge, strings.TrimSuffix(st.BridgeIP, ".1"), len(st.Nodes))
	if err := st.startContainerd(ctx, o.ContainerdSocket); err != nil {
		return st, err
	}
	if st.ha() {
		if err := st.startHAControlPlane(ctx, &o); err != nil {
			return st, err
		}
		o.progress(" ✓ Control plane: %d servers with stacked etcd behind a load balancer on %s", cps, st.Server)
	} else {
		if err := st.startServer(ctx, &o); err != nil {
			return st, err
		}
		o.progress(" ✓ Control plane on %s", st.Server)
	}
	if err := st.startAgents(&o); err != nil {
		return st, err
	}
	c, err := st.AdminClient()
	if err != nil {
		return st, err
	}
	defer c.Close()
	if err := st.waitReady(ctx, c, o.Timeout); err != nil {
		return st, err
	}
	o.progress(" ✓ %d nodes Ready in %s", len(st.Nodes), time.Since(start).Round(100*time.Millisecond))
	if o.ImageArchive != "" {
		if err := LoadImages(ctx, c, o.ImageArchive); err != nil {
			return st, err
		}
		o.progress(" ✓ Loaded %s onto every node", o.ImageArchive)
	}
	if err := st.mergeUserConfig(o.UserConfig); err != nil {
		return st, err
	}
	o.progress(" ✓ Context %q in %s is current", ContextName(st.Name), o.UserConfig)
	return st, nil
}

// makeNetwork makes the bridge and one namespace and veth per node, or
// what of them is missing (after a reboot, nothing is left of them).
func (s *State) makeNetwork() error {
	if !linkExists(s.Bridge) {
		steps := [][]string{
			{"link", "add", s.Bridge, "type", "bridge"},
			{"addr", "add", s.BridgeIP + "/24", "dev", s.Bridge},
		}
		for _, a := range steps {
			if err := ip(a...); err != nil {
				return err
			}
		}
	}
	if err := ip("link", "set", s.Bridge, "up"); err != nil {
		return err
	}
	for _, n := range s.Nodes {
		if err := s.makeNodeNetwork(n); err != nil {
			return fmt.Errorf("node %q: %w", n.Name, err)
		}
	}
	return nil
}

// makeNodeNetwork makes node n's namespace and its veth to the bridge,
// unless they are there.
func (s *State) makeNodeNetwork(n NodeState) error {
	if !isNetNS(netnsPath(n.NetNS)) {
		_ = ip("netns", "delete", n.NetNS) // a stale name from before a reboot
		if err := ip("netns", "add", n.NetNS); err != nil {
			return err
		}
	}
	if linkExists(n.HostVeth) {
		return nil
	}
	steps := [][]string{
		{"link", "add", n.HostVeth, "type", "veth", "peer", "name", "eth0", "netns", n.NetNS},
		{"link", "set", n.HostVeth, "master", s.Bridge, "up"},
		{"-n", n.NetNS, "addr", "add", n.IP + "/24", "dev", "eth0"},
		{"-n", n.NetNS, "link", "set", "lo", "up"},
		{"-n", n.NetNS, "link", "set", "eth0", "up"},
		{"-n", n.NetNS, "route", "add", "default", "via", s.BridgeIP},
	}
	for _, a := range steps {
		if err := ip(a...); err != nil {
			return err
		}
	}
	return nil
}

func (s *State) startContainerd(ctx context.Context, socket string) error {
	if socket != "" {
		if !containerdproc.Answers(socket) {
			return fmt.Errorf("no containerd answers on %s", socket)
		}
		s.ContainerdSocket = socket
		return s.save()
	}
	p, err := containerdproc.Start(ctx, filepath.Join(s.Dir, "containerd"))
	if err != nil {
		return err
	}
	s.ContainerdSocket = p.Socket
	s.Containerd = Proc{PID: p.PID(), StartTime: startTime(p.PID())}
	return s.save()
}

// startProc starts skiffd detached (its own session), logging to logPath,
// in the network namespace netns ("" = the host's).
func startProc(bin string, args []string, logPath, netns string) (Proc, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return Proc{}, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if netns == "" {
		err = cmd.Start()
	} else {
		err = startIn(netnsPath(netns), cmd)
	}
	if err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap it if it ends while we live
	return Proc{PID: pid, StartTime: startTime(pid), Args: args, Log: logPath}, nil
}

func (s *State) startServer(ctx context.Context, o *Options) error {
	if err := os.MkdirAll(s.ServerDataDir, 0o700); err != nil {
		return err
	}
	// The bootstrap token expires after skiffd's default 24 h, as kubeadm's:
	// agents keep the credentials their join gave them (RestartAgent
	// included), and `skiffctl token create` makes more.
	args := append([]string{"server", "--data-dir", s.ServerDataDir, "--listen", s.Server, "--cluster-cidr", s.ClusterCIDR, "--plugin-dir", o.PluginDir},
		o.serverTimingArgs()...)
	p, err := startProc(o.Skiffd, args, filepath.Join(s.Dir, "server.log"), "")
	if err != nil {
		return err
	}
	s.ServerProc = p
	if err := s.save(); err != nil {
		return err
	}
	return s.waitServer(ctx, s.ServerDataDir, p)
}

// serverTimingArgs are the skiffd server flags of o's timings that are set.
func (o *Options) serverTimingArgs() []string {
	var args []string
	if o.NodeGracePeriod > 0 {
		args = append(args, "--node-grace-period", o.NodeGracePeriod.String())
	}
	if o.NodeCertTTL > 0 {
		args = append(args, "--node-cert-ttl", o.NodeCertTTL.String())
	}
	return args
}

// waitServer waits until the server with data dir dataDir answers as
// admin (a node list) through p, up to 60 s, and fails early when p
// exits. p is the server, or the load balancer in front of it.
func (s *State) waitServer(ctx context.Context, dataDir string, p Proc) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if fileExists(filepath.Join(dataDir, apiserver.JoinTokenFile)) && fileExists(filepath.Join(dataDir, "admin.conf")) {
			if c, err := adminClient(dataDir, ""); err == nil {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, _, verr := client.List[corev1.Node](cctx, c, api.Nodes, "", client.ListOptions{})
				cancel()
				c.Close()
				if verr == nil {
					return nil
				}
			}
		}
		if !alive(p) {
			return fmt.Errorf("skiffd %s exited at start; see %s:\n%s", p.Args[0], p.Log, logTail(p.Log))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("skiffd %s did not answer within 60s; see %s", p.Args[0], p.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ControlPlaneTaint is the taint of the control plane of a cluster with
// workers, in --register-with-taints syntax (kubeadm's
// node-role.kubernetes.io/control-plane:NoSchedule).
const ControlPlaneTaint = "node-role.kubernetes.io/control-plane=:NoSchedule"

func (s *State) hasWorkers() bool {
	for _, n := range s.Nodes {
		if n.Role == RoleWorker {
			return true
		}
	}
	return false
}

// agentArgs are node n's skiffd agent arguments.
func (s *State) agentArgs(o *Options, n *NodeState, token, pin string) []string {
	args := []string{"agent", "--data-dir", n.DataDir, "--server", s.Server, "--token", token, "--ca-cert-hash", pin,
		"--node-name", n.Name, "--node-ip", n.IP, "--containerd-socket", s.ContainerdSocket,
		"--runtime-namespace", n.RuntimeNamespace, "--plugin-dir", o.PluginDir, "--cluster-cidr", s.ClusterCIDR}
	if n.Role == RoleControlPlane {
		args = append(args, "--node-role", RoleControlPlane)
		// kind (kubeadm) taints the control plane when the cluster has
		// workers, so pods run on the workers; a single node stays
		// untainted. The agent applies it when it makes its Node.
		if s.hasWorkers() {
			args = append(args, "--register-with-taints", ControlPlaneTaint)
		}
	}
	if o.HeartbeatInterval > 0 {
		args = append(args, "--heartbeat-interval", o.HeartbeatInterval.String())
	}
	return args
}

func (s *State) startAgents(o *Options) error {
	data, err := os.ReadFile(filepath.Join(s.ServerDataDir, apiserver.JoinTokenFile))
	if err != nil {
		return err
	}
	token := strings.TrimSpace(string(data))
	ca, err := pki.LoadOrCreateCA(filepath.Join(s.ServerDataDir, "pki"))
	if err != nil {
		return err
	}
	pin := apiserver.CACertHash(ca.Cert)
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
			return err
		}
		p, err := startProc(o.Skiffd, s.agentArgs(o, n, token, pin), filepath.Join(s.Dir, n.Name+".log"), n.NetNS)
		if err != nil {
			return fmt.Errorf("node %q: %w", n.Name, err)
		}
		n.Agent = p
		if err := s.save(); err != nil {
			return err
		}
	}
	return nil
}

// RestartAgent starts node's agent again with the arguments it was first
// started with (after it died or was stopped).
func (s *State) RestartAgent(node string) error {
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Name != node {
			continue
		}
		if alive(n.Agent) {
			return fmt.Errorf("node %q: agent %d is still running", node, n.Agent.PID)
		}
		// Plugins of the dead agent (its process group) go with it: the
		// new agent starts its own.
		p, err := s.restart(n.Agent, n.NetNS)
		if err != nil {
			return fmt.Errorf("node %q: %w", node, err)
		}
		n.Agent = p
		return s.save()
	}
	return fmt.Errorf("cluster %q has no node %q", s.Name, node)
}

// AdminClient connects to the cluster as admin, at its server address
// (the load balancer's, with several control-plane nodes).
func (s *State) AdminClient() (*client.Client, error) {
	return adminClient(s.ServerDataDir, s.Server)
}

// adminClient connects with the admin config in a server's data dir, to
// server instead of the address in it when server is not "".
func adminClient(dataDir, server string) (*client.Client, error) {
	cfg, err := clientconfig.Load(filepath.Join(dataDir, "admin.conf"))
	if err != nil {
		return nil, err
	}
	r, err := cfg.Current("")
	if err != nil {
		return nil, err
	}
	if server != "" {
		r.Cluster.Server = server
	}
	return client.New(r)
}

func (s *State) waitReady(ctx context.Context, c *client.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		nodes, _, err := client.List[corev1.Node](ctx, c, api.Nodes, "", client.ListOptions{})
		ready := map[string]bool{}
		if err == nil {
			for _, n := range nodes {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready[n.Name] = true
					}
				}
			}
		}
		var missing []string
		for _, n := range s.Nodes {
			if !ready[n.Name] {
				missing = append(missing, n.Name)
				if !alive(n.Agent) {
					return fmt.Errorf("node %q: agent exited; see %s:\n%s", n.Name, n.Agent.Log, logTail(n.Agent.Log))
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes not Ready after %s: %s (logs under %s)", timeout, strings.Join(missing, ", "), s.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// mergeUserConfig adds the cluster's admin credentials to the user's
// client config as context skiff-<name> and makes it current.
func (s *State) mergeUserConfig(path string) error {
	admin, err := clientconfig.Load(filepath.Join(s.ServerDataDir, "admin.conf"))
	if err != nil {
		return err
	}
	if len(admin.Clusters) == 0 || len(admin.Users) == 0 {
		return fmt.Errorf("cluster %q: admin config has no credentials", s.Name)
	}
	cfg := clientconfig.New(ContextName(s.Name), s.Server, admin.Clusters[0].CertificateAuthorityData,
		admin.Users[0].ClientCertificateData, admin.Users[0].ClientKeyData)
	err = clientconfig.Modify(path, true, func(user *clientconfig.Config) error {
		user.Merge(cfg)
		return nil
	})
	if err != nil {
		return err
	}
	s.UserConfig = path
	return s.save()
}

// removeUserContext drops the cluster's context (and its cluster and user
// entries) from the client config; the current context is cleared when it
// was the cluster's.
func (s *State) removeUserContext() error {
	if s.UserConfig == "" {
		return nil
	}
	err := clientconfig.Modify(s.UserConfig, false, func(cfg *clientconfig.Config) error {
		cfg.RemoveContext(ContextName(s.Name))
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
