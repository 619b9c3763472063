// Package base holds what every skiff plugin shares, whatever its kind: the
// go-plugin handshake, the plugin kinds, the identity a plugin reports, the
// settings it is handed, API-version negotiation and the errors that cross the
// wire intact.
//
// A plugin binary never uses this package directly: it calls the Serve
// function of its kind's package (sdk/scheduler, sdk/runtime, ...), which
// wires base in.
package base

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/go-plugin"
)

// Kind names what a plugin does. The core loads exactly one plugin per kind.
type Kind string

// The plugin kinds skiff knows.
const (
	KindScheduler Kind = "scheduler"
	KindRuntime   Kind = "runtime"
	KindNetwork   Kind = "network"
	KindProbes    Kind = "probes"
	KindVolumes   Kind = "volumes"
)

// Kinds lists every kind in the order the core starts them.
var Kinds = []Kind{KindRuntime, KindNetwork, KindVolumes, KindProbes, KindScheduler}

// Magic cookie: a plugin binary run by hand (not by the core) prints a short
// explanation and exits instead of waiting on stdin for a handshake.
const (
	MagicCookieKey   = "SKIFF_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "e1b7c3f0-skiff-plugin"
)

// Handshake is shared by the core and every plugin. The ProtocolVersion here is
// only go-plugin's fallback: the real negotiation uses VersionedPlugins, where
// the key is the kind's API version (skiff.<kind>.v<N>).
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// SettingSpec describes one setting a plugin accepts. The core validates the
// settings of a profile against these before calling Configure.
type SettingSpec struct {
	Name        string
	Description string
	Required    bool
	Default     string
}

// Info is who a plugin is. APIVersion is the version of its kind's contract
// that was negotiated for this connection.
type Info struct {
	Kind       Kind
	Name       string
	Version    string
	APIVersion int
	Settings   []SettingSpec
}

// Config is what the core hands a plugin before any other call.
type Config struct {
	// NodeName is the node the plugin serves ("" for server-side plugins).
	NodeName string
	// DataDir is a directory the plugin owns for its state; it survives
	// restarts of the plugin and of the node.
	DataDir string
	// Settings are the profile's settings for this plugin, validated against
	// Info.Settings.
	Settings map[string]string
}

// Plugin is the part of the contract every kind shares.
type Plugin interface {
	// Info describes the plugin. It must answer before Configure is called.
	Info(ctx context.Context) (Info, error)
	// Configure is called once per plugin process, before any call of the
	// kind's own contract. It may be called again after the plugin restarts.
	Configure(ctx context.Context, cfg Config) error
}

// ValidateSettings checks settings against a plugin's specs: unknown names and
// missing required settings are errors that name the setting. Defaults are
// filled in the returned map.
func ValidateSettings(specs []SettingSpec, settings map[string]string) (map[string]string, error) {
	known := make(map[string]SettingSpec, len(specs))
	out := make(map[string]string, len(specs))
	for _, s := range specs {
		known[s.Name] = s
		if s.Default != "" {
			out[s.Name] = s.Default
		}
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := known[k]; !ok {
			return nil, fmt.Errorf("setting %q: unknown (the plugin accepts %s): %w", k, specNames(specs), ErrInvalid)
		}
		out[k] = settings[k]
	}
	for _, s := range specs {
		if s.Required && out[s.Name] == "" {
			return nil, fmt.Errorf("setting %q: required (%s): %w", s.Name, s.Description, ErrInvalid)
		}
	}
	return out, nil
}

func specNames(specs []SettingSpec) string {
	if len(specs) == 0 {
		return "no settings"
	}
	s := ""
	for i, sp := range specs {
		if i > 0 {
			s += ", "
		}
		s += sp.Name
	}
	return s
}
