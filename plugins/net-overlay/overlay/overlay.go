package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// Name and Version are what Info reports.
const (
	Name    = "net-overlay"
	Version = "0.1.0"
)

// Setting names and defaults.
const (
	SettingBridge   = "bridge"
	SettingNetNSDir = "netns_dir"
	SettingMTU      = "mtu"

	DefaultBridge = "skiff0"
	DefaultMTU    = 1500
)

var settingSpecs = []base.SettingSpec{
	{Name: SettingBridge, Description: "name of the node's pod bridge (at most 15 characters)", Default: DefaultBridge},
	{Name: SettingNetNSDir, Description: "directory for the pods' network namespace files (default <data_dir>/netns)"},
	{Name: SettingMTU, Description: "MTU of the pods' interfaces", Default: strconv.Itoa(DefaultMTU)},
}

// config is the plugin's configuration after Configure.
type config struct {
	dataDir  string
	bridge   string
	netnsDir string
	mtu      int
}

func (c *config) nodeFile() string { return filepath.Join(c.dataDir, "node.json") }
func (c *config) podsDir() string  { return filepath.Join(c.dataDir, "pods") }
func (c *config) ipamDir() string  { return filepath.Join(c.dataDir, "ipam") }

// Overlay is the net-overlay plugin. It implements network.Network.
type Overlay struct {
	mu   sync.Mutex
	cfg  *config    // nil until Configure
	node *nodeState // nil until SetupNode, or loaded from the data dir
	ipt  *iptables
}

var _ network.Network = (*Overlay)(nil)

// New returns an unconfigured plugin.
func New() *Overlay {
	return &Overlay{ipt: &iptables{}}
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
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cfg, o.node = cfg, node
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
	cfg.mtu, err = strconv.Atoi(settings[SettingMTU])
	if err != nil || cfg.mtu < 576 || cfg.mtu > 65535 {
		return nil, fmt.Errorf("configure: setting %q: %q is not an MTU between 576 and 65535: %w", SettingMTU, settings[SettingMTU], base.ErrInvalid)
	}
	return cfg, nil
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
