package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// Name and Version are what Info reports.
const (
	Name    = "net-overlay"
	Version = "0.2.0"
)

// Setting names and defaults.
const (
	SettingBridge      = "bridge"
	SettingNetNSDir    = "netns_dir"
	SettingMTU         = "mtu"
	SettingNetNS       = "netns"
	SettingVXLANDevice = "vxlan_device"
	SettingVXLANVNI    = "vxlan_vni"
	SettingVXLANPort   = "vxlan_port"
	SettingDNSUpstream = "dns_upstream"

	DefaultBridge      = "skiff0"
	DefaultMTU         = 1500
	DefaultVXLANDevice = "skiff.1"
	DefaultVXLANVNI    = 1
	DefaultVXLANPort   = 8472 // the Linux kernel's and flannel's VXLAN port

	// DNSUpstreamNone turns forwarding off: names outside the cluster
	// domain are answered REFUSED.
	DNSUpstreamNone = "none"
)

var settingSpecs = []base.SettingSpec{
	{Name: SettingBridge, Description: "name of the node's pod bridge (at most 15 characters)", Default: DefaultBridge},
	{Name: SettingNetNSDir, Description: "directory for the pods' network namespace files (default <data_dir>/netns)"},
	{Name: SettingMTU, Description: "MTU of the pods' interfaces (default: the node link's MTU less 50 for VXLAN, or 1500 without overlay)"},
	{Name: SettingNetNS, Description: "network namespace file to do the node's host-side work in, for nodes that are namespaces of one machine (default: the plugin's own namespace)"},
	{Name: SettingVXLANDevice, Description: "name of the node's VXLAN device", Default: DefaultVXLANDevice},
	{Name: SettingVXLANVNI, Description: "VXLAN network identifier, the same on every node", Default: strconv.Itoa(DefaultVXLANVNI)},
	{Name: SettingVXLANPort, Description: "VXLAN UDP port, the same on every node", Default: strconv.Itoa(DefaultVXLANPort)},
	{Name: SettingDNSUpstream, Description: `resolvers for names outside the cluster domain: "ip[:port],..."; "none" answers REFUSED (default: the nameservers of /etc/resolv.conf)`},
}

// config is the plugin's configuration after Configure.
type config struct {
	dataDir  string
	bridge   string
	netnsDir string
	// mtu is the pods' MTU from the setting; 0 means derive it.
	mtu       int
	host      hostNS
	vxlanDev  string
	vni       int
	vxlanPort int
	// upstreams are the DNS forwarders (host:port); nil forwards nothing.
	upstreams []string
}

func (c *config) nodeFile() string     { return filepath.Join(c.dataDir, "node.json") }
func (c *config) peersFile() string    { return filepath.Join(c.dataDir, "peers.json") }
func (c *config) servicesFile() string { return filepath.Join(c.dataDir, "services.json") }
func (c *config) podsDir() string      { return filepath.Join(c.dataDir, "pods") }
func (c *config) ipamDir() string      { return filepath.Join(c.dataDir, "ipam") }

// Overlay is the net-overlay plugin. It implements network.Network.
type Overlay struct {
	mu   sync.Mutex
	cfg  *config    // nil until Configure
	node *nodeState // nil until SetupNode, or loaded from the data dir
	ipt  *iptables
	dns  *dnsServer // nil until SetupNode
	// services is the last set SetServices accepted (or the one recorded
	// under DataDir); SetupNode programs it again.
	services []network.Service
}

var _ network.Network = (*Overlay)(nil)

// New returns an unconfigured plugin.
func New() *Overlay {
	return &Overlay{ipt: &iptables{}}
}

// Close stops what runs in the plugin's process (the DNS server) without
// touching the node: links, rules and pods stay. The plugin's main never
// needs it (the process ends); tests that run several instances do.
func (o *Overlay) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stopDNS()
}

// Info implements base.Plugin.
func (o *Overlay) Info(context.Context) (base.Info, error) {
	return base.Info{
		Kind:       base.KindNetwork,
		Name:       Name,
		Version:    Version,
		APIVersion: network.APIVersion,
		Settings:   append([]base.SettingSpec(nil), settingSpecs...),
	}, nil
}

// Configure implements base.Plugin: it checks the settings, makes the
// plugin's directories and loads the node state a previous process left.
func (o *Overlay) Configure(_ context.Context, bc base.Config) error {
	cfg, err := parseConfig(bc)
	if err != nil {
		return err
	}
	for _, dir := range []string{cfg.dataDir, cfg.podsDir(), cfg.ipamDir(), cfg.netnsDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("configure: %w", err)
		}
	}
	node, err := loadNode(cfg.nodeFile())
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	services, err := loadServices(cfg)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cfg != nil && o.cfg.host != cfg.host {
		// The DNS server listens in the old namespace.
		o.stopDNS()
	}
	o.cfg, o.node, o.services = cfg, node, services
	return nil
}

func parseConfig(bc base.Config) (*config, error) {
	if bc.DataDir == "" || !filepath.IsAbs(bc.DataDir) {
		return nil, fmt.Errorf("configure: data dir %q: must be an absolute path: %w", bc.DataDir, base.ErrInvalid)
	}
	settings, err := base.ValidateSettings(settingSpecs, bc.Settings)
	if err != nil {
		return nil, fmt.Errorf("configure: %w: %w", err, base.ErrInvalid)
	}
	cfg := &config{dataDir: bc.DataDir, bridge: settings[SettingBridge], netnsDir: settings[SettingNetNSDir]}
	if err := checkLinkName(cfg.bridge); err != nil {
		return nil, fmt.Errorf("configure: setting %q: %w", SettingBridge, err)
	}
	if cfg.netnsDir == "" {
		cfg.netnsDir = filepath.Join(bc.DataDir, "netns")
	}
	if !filepath.IsAbs(cfg.netnsDir) {
		return nil, fmt.Errorf("configure: setting %q: %q is not an absolute path: %w", SettingNetNSDir, cfg.netnsDir, base.ErrInvalid)
	}
	if v := settings[SettingMTU]; v != "" {
		cfg.mtu, err = strconv.Atoi(v)
		if err != nil || cfg.mtu < 576 || cfg.mtu > 65535 {
			return nil, fmt.Errorf("configure: setting %q: %q is not an MTU between 576 and 65535: %w", SettingMTU, v, base.ErrInvalid)
		}
	}
	if v := settings[SettingNetNS]; v != "" {
		if !filepath.IsAbs(v) {
			return nil, fmt.Errorf("configure: setting %q: %q is not an absolute path: %w", SettingNetNS, v, base.ErrInvalid)
		}
		if !isNetNS(v) {
			return nil, fmt.Errorf("configure: setting %q: %q is not a network namespace file: %w", SettingNetNS, v, base.ErrInvalid)
		}
		cfg.host = hostNS{path: v}
	}
	cfg.vxlanDev = settings[SettingVXLANDevice]
	if err := checkLinkName(cfg.vxlanDev); err != nil {
		return nil, fmt.Errorf("configure: setting %q: %w", SettingVXLANDevice, err)
	}
	if cfg.vxlanDev == cfg.bridge {
		return nil, fmt.Errorf("configure: settings %q and %q: both name %q: %w", SettingBridge, SettingVXLANDevice, cfg.bridge, base.ErrInvalid)
	}
	if cfg.vni, err = intSetting(settings, SettingVXLANVNI, 1, 1<<24-1); err != nil {
		return nil, err
	}
	if cfg.vxlanPort, err = intSetting(settings, SettingVXLANPort, 1, 65535); err != nil {
		return nil, err
	}
	if cfg.upstreams, err = parseUpstreams(settings[SettingDNSUpstream]); err != nil {
		return nil, fmt.Errorf("configure: setting %q: %w", SettingDNSUpstream, err)
	}
	return cfg, nil
}

func intSetting(settings map[string]string, name string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(settings[name])
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("configure: setting %q: %q is not a number from %d to %d: %w", name, settings[name], lo, hi, base.ErrInvalid)
	}
	return n, nil
}

// parseUpstreams reads the dns_upstream setting: "" means the nameservers
// of /etc/resolv.conf, "none" none, otherwise a comma-separated list of
// "ip" or "ip:port".
func parseUpstreams(v string) ([]string, error) {
	switch strings.TrimSpace(v) {
	case DNSUpstreamNone:
		return nil, nil
	case "":
		return resolvConfUpstreams("/etc/resolv.conf"), nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if ap, err := netip.ParseAddrPort(f); err == nil {
			out = append(out, ap.String())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or IP:port: %w", f, base.ErrInvalid)
		}
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	return out, nil
}

// checkLinkName accepts what the kernel accepts as an interface name.
func checkLinkName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("link name %q: must be 1 to 15 characters: %w", name, base.ErrInvalid)
	}
	for _, r := range name {
		if r == '/' || r == ':' || r <= ' ' || r > '~' {
			return fmt.Errorf("link name %q: must be printable ASCII without '/', ':' or spaces: %w", name, base.ErrInvalid)
		}
	}
	return nil
}

// configured returns the configuration, or an error if Configure was not
// called. The caller holds o.mu.
func (o *Overlay) configured() (*config, error) {
	if o.cfg == nil {
		return nil, fmt.Errorf("%s: %w", Name, base.ErrNotConfigured)
	}
	return o.cfg, nil
}
