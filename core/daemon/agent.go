package daemon

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiffhq/skiff/core/agent"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/containerdproc"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// runningAgent is a started node agent with its plugins.
type runningAgent struct {
	containerd *containerdproc.Process
	plugins    *pluginhost.Host
	client     *client.Client
	cancel     context.CancelFunc
	done       chan error
}

// startAgent starts containerd when needed, the node's plugins and the agent.
func startAgent(ctx context.Context, o *Options, creds *nodeCredentials, serverAddr string) (*runningAgent, error) {
	ra := &runningAgent{done: make(chan error, 1)}
	ok := false
	defer func() {
		if !ok {
			ra.stop()
		}
	}()
	socket := o.ContainerdSocket
	if !containerdproc.Answers(socket) {
		p, err := containerdproc.Start(ctx, filepath.Join(o.DataDir, "containerd"))
		if err != nil {
			return nil, fmt.Errorf("no containerd answers on %s and starting one failed: %w", socket, err)
		}
		ra.containerd, socket = p, p.Socket
	}
	c, rotator, err := nodeClient(o, creds, serverAddr)
	if err != nil {
		return nil, err
	}
	ra.client = c
	ra.plugins = pluginhost.New(o.NodeName, filepath.Join(o.DataDir, "plugins", "logs"))
	if err := ra.plugins.Start(ctx, nodePluginSpecs(o, socket, ra.plugins)); err != nil {
		return nil, err
	}
	a := agent.New(agent.Config{
		NodeName: o.NodeName, NodeIP: o.NodeIP, ListenAddr: o.AgentListen, Roles: o.roles(), RegisterWithTaints: o.RegisterWithTaints,
		DataDir: o.DataDir, Client: c, Plugins: ra.plugins, CA: creds.ca, ServingCert: creds.serving,
		BackoffBase: o.BackoffBase, ClusterCIDR: o.ClusterCIDR, HeartbeatInterval: o.HeartbeatInterval,
		SyncFrequency:       o.SyncFrequency,
		PlainHTTPRegistries: o.PlainHTTPRegistries, AllowPrivileged: o.AllowPrivileged, AllowHostPath: o.AllowHostPath, Log: o.Log.With("component", "agent"),
	})
	actx, cancel := context.WithCancel(context.Background())
	ra.cancel = cancel
	go func() { ra.done <- a.Run(actx) }()
	go rotator.Run(actx)
	ok = true
	return ra, nil
}

func (o *Options) roles() []string {
	if len(o.NodeRoles) > 0 {
		return o.NodeRoles
	}
	if o.Server == "" {
		return []string{"control-plane"}
	}
	return nil
}

// nodeCredentials are what an agent authenticates with: the cluster CA
// (its certificate; the key only when made locally), a client certificate
// as system:node:<name> (group system:nodes) and the NodeAgent serving
// certificate.
type nodeCredentials struct {
	ca      *pki.CA
	client  pki.KeyPair
	serving pki.KeyPair
	// dir is where they are saved (nodecreds.go); "" when made at start.
	dir string
}

// issueNodeCredentials makes the node's credentials with the CA's key
// (skiffd dev, skiffd agent --pki-dir).
func issueNodeCredentials(o *Options, ca *pki.CA) (*nodeCredentials, error) {
	kp, err := ca.IssueClient("system:node:"+o.NodeName, []string{pki.GroupNodes})
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServer(o.NodeName, []string{o.NodeName}, []net.IP{net.ParseIP(o.NodeIP)})
	if err != nil {
		return nil, err
	}
	return &nodeCredentials{ca: ca, client: kp, serving: serving}, nil
}

// joinNodeCredentials gets the node's credentials from the server with
// the bootstrap token (skiffd agent --token), pinning the CA when
// o.CACertHash is set.
func joinNodeCredentials(ctx context.Context, o *Options) (*nodeCredentials, error) {
	resp, err := apiserver.JoinCluster(ctx, o.Server, o.JoinToken, o.CACertHash, o.NodeName, o.NodeIP)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(resp.CaPem)
	if block == nil {
		return nil, fmt.Errorf("join %s: no CA certificate", o.Server)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("join %s: CA certificate: %w", o.Server, err)
	}
	return &nodeCredentials{
		ca:      &pki.CA{Cert: cert, CertPEM: resp.CaPem},
		client:  pki.KeyPair{CertPEM: resp.ClientCert, KeyPEM: resp.ClientKey},
		serving: pki.KeyPair{CertPEM: resp.ServingCert, KeyPEM: resp.ServingKey},
	}, nil
}

// nodeClient makes the agent's API client with its node certificate, and
// the rotator that renews that certificate before it expires
// (agent/certrotate.go).
func nodeClient(o *Options, creds *nodeCredentials, serverAddr string) (*client.Client, *agent.CertRotator, error) {
	cert, err := agent.NewClientCertificate(creds.client)
	if err != nil {
		return nil, nil, err
	}
	c, err := agent.NewRotatingClient(serverAddr, creds.ca.CertPEM, cert)
	if err != nil {
		return nil, nil, err
	}
	return c, &agent.CertRotator{NodeName: o.NodeName, Client: c, Cert: cert, Save: creds.saveRotatedClient, Log: o.Log.With("component", "certrotate")}, nil
}

func nodePluginSpecs(o *Options, containerdSocket string, host *pluginhost.Host) []pluginhost.Spec {
	dir := func(kind base.Kind) string { return filepath.Join(o.DataDir, "plugins", string(kind)) }
	bin := func(name string) string { return filepath.Join(o.PluginDir, name) }
	netSettings := map[string]string{}
	if o.PodBridge != "" {
		netSettings["bridge"] = o.PodBridge
	}
	runtimeSettings := map[string]string{"address": containerdSocket, "plain_http_registries": strings.Join(o.PlainHTTPRegistries, ",")}
	if o.RuntimeNamespace != "" {
		runtimeSettings["namespace"] = o.RuntimeNamespace
	}
	// What the core knows (the containerd socket, the bridge) is offered:
	// a plugin gets the settings it declares, so a profile can swap in a
	// plugin that does not take them. The profile's settings are strict.
	specs := []pluginhost.Spec{
		{Kind: base.KindRuntime, Path: bin("skiff-runtime-containerd"), Versions: runtime.ClientVersions(), DataDir: dir(base.KindRuntime),
			Offered: runtimeSettings},
		{Kind: base.KindNetwork, Path: bin("skiff-net-overlay"), Versions: network.ClientVersions(), DataDir: dir(base.KindNetwork),
			Offered: netSettings},
		{Kind: base.KindVolumes, Path: bin("skiff-volumes"), Versions: volumes.ClientVersions(), DataDir: dir(base.KindVolumes)},
		{Kind: base.KindProbes, Path: bin("skiff-probes"), Versions: probes.ClientVersionsWithHost(agent.ExecHost{Plugins: host}), DataDir: dir(base.KindProbes)},
	}
	for i := range specs {
		specs[i] = o.profile.Apply(specs[i], o.PluginDir)
	}
	return specs
}

// stop stops the agent and its plugins (containers keep running), then the
// containerd skiffd started, if any.
func (ra *runningAgent) stop() {
	if ra.cancel != nil {
		ra.cancel()
		select {
		case <-ra.done:
		case <-time.After(10 * time.Second):
		}
	}
	if ra.plugins != nil {
		ra.plugins.Stop()
	}
	if ra.client != nil {
		ra.client.Close()
	}
	if ra.containerd != nil {
		ra.containerd.Stop()
	}
}
