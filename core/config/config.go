// Package config reads skiffd's configuration file: where the plugin
// binaries are, and named profiles that pick the plugin binary and its
// settings for each kind, so the same skiffd runs different plugins in dev,
// CI and production:
//
//	pluginDir: /opt/skiff/plugins
//	defaultProfile: prod            # used when --profile is not given
//	profiles:
//	  dev:
//	    scheduler: {binary: skiff-scheduler-spread}
//	    runtime:   {binary: skiff-runtime-containerd, settings: {namespace: skiff-dev}}
//	  prod:
//	    scheduler: {binary: skiff-scheduler-binpack}
//
// A kind a profile does not name runs skiff's default plugin. A binary is
// found in pluginDir (relative to the file's directory when relative; the
// --plugin-dir flag wins over it) unless it is an absolute path. Settings
// are strings; numbers and booleans are taken as written.
//
// Decoding is strict: an unknown key is an error that names its path
// (`profiles.dev.schedular`), as are a profile that does not exist and a
// setting that is not a scalar. The settings themselves are checked later,
// when the plugin starts, against the settings the plugin declares; those
// errors name the profile, the kind and the setting.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
)

// File is a parsed configuration file.
type File struct {
	// Path is where the file was read from.
	Path string
	// PluginDir is the directory plugin binaries are found in, made
	// absolute against the file's directory; "" when not set.
	PluginDir string
	// DefaultProfile is the profile used when none is asked for.
	DefaultProfile string
	Profiles       map[string]Profile
}

// Profile picks plugins by kind. Kinds it does not name run the defaults.
type Profile map[base.Kind]Plugin

// Plugin is one kind's choice in a profile.
type Plugin struct {
	// Binary is a file name in the plugin directory, or an absolute path;
	// "" keeps the default binary (with these settings).
	Binary   string
	Settings map[string]string
}

// rawFile is the file's schema, for strict decoding.
type rawFile struct {
	PluginDir      string                `json:"pluginDir"`
	DefaultProfile string                `json:"defaultProfile"`
	Profiles       map[string]rawProfile `json:"profiles"`
}

type rawProfile struct {
	Scheduler *rawPlugin `json:"scheduler"`
	Runtime   *rawPlugin `json:"runtime"`
	Network   *rawPlugin `json:"network"`
	Probes    *rawPlugin `json:"probes"`
	Volumes   *rawPlugin `json:"volumes"`
}

type rawPlugin struct {
	Binary   string                     `json:"binary"`
	Settings map[string]json.RawMessage `json:"settings"`
}

func (p rawProfile) kinds() map[base.Kind]*rawPlugin {
	return map[base.Kind]*rawPlugin{
		base.KindScheduler: p.Scheduler, base.KindRuntime: p.Runtime, base.KindNetwork: p.Network,
		base.KindProbes: p.Probes, base.KindVolumes: p.Volumes,
	}
}

// Load reads and checks the file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(data, abs)
}

// Parse checks a configuration given as YAML (or JSON); path names it in
// errors and anchors a relative pluginDir.
func Parse(data []byte, path string) (*File, error) {
	fail := func(err error) (*File, error) { return nil, fmt.Errorf("config %s: %w", path, err) }
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fail(err)
	}
	var raw rawFile
	strict, err := sigsjson.UnmarshalStrict(js, &raw, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return fail(err)
	}
	if len(strict) > 0 {
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		hint := ""
		if strings.Contains(strings.Join(msgs, " "), `"profiles.`) {
			hint = fmt.Sprintf(" (a profile may name the kinds %s; a kind takes binary and settings)", kindList())
		}
		return fail(fmt.Errorf("%s%s", strings.Join(msgs, "; "), hint))
	}
	f := &File{Path: path, DefaultProfile: raw.DefaultProfile, Profiles: map[string]Profile{}}
	if raw.PluginDir != "" {
		f.PluginDir = raw.PluginDir
		if !filepath.IsAbs(f.PluginDir) {
			f.PluginDir = filepath.Join(filepath.Dir(path), f.PluginDir)
		}
	}
	for _, name := range sortedKeys(raw.Profiles) {
		if name == "" {
			return fail(errors.New("profiles: a profile has an empty name"))
		}
		prof := Profile{}
		for kind, rp := range raw.Profiles[name].kinds() {
			if rp == nil {
				continue
			}
			field := fmt.Sprintf("profiles.%s.%s", name, kind)
			p, err := rp.convert(field)
			if err != nil {
				return fail(err)
			}
			prof[kind] = p
		}
		f.Profiles[name] = prof
	}
	if f.DefaultProfile != "" {
		if _, ok := f.Profiles[f.DefaultProfile]; !ok {
			return fail(fmt.Errorf("defaultProfile: profile %q does not exist (profiles: %s)", f.DefaultProfile, f.profileList()))
		}
	}
	return f, nil
}

func (rp *rawPlugin) convert(field string) (Plugin, error) {
	p := Plugin{Binary: rp.Binary}
	if strings.TrimSpace(rp.Binary) != rp.Binary {
		return Plugin{}, fmt.Errorf("%s.binary %q: not a file name", field, rp.Binary)
	}
	if len(rp.Settings) > 0 {
		p.Settings = make(map[string]string, len(rp.Settings))
	}
	for _, k := range sortedKeys(rp.Settings) {
		if k == "" {
			return Plugin{}, fmt.Errorf("%s.settings: a setting has an empty name", field)
		}
		v, err := scalar(rp.Settings[k])
		if err != nil {
			return Plugin{}, fmt.Errorf("%s.settings.%s: %w", field, k, err)
		}
		p.Settings[k] = v
	}
	return p, nil
}

// scalar turns a JSON string, number or boolean into the setting's text.
func scalar(raw json.RawMessage) (string, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "", nil
	}
	return "", errors.New("a setting is a string, number or boolean, not a list or map")
}

func kindList() string {
	names := make([]string, len(base.Kinds))
	for i, k := range base.Kinds {
		names[i] = string(k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (f *File) profileList() string {
	if len(f.Profiles) == 0 {
		return "none"
	}
	return strings.Join(sortedKeys(f.Profiles), ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Selection is the profile skiffd runs with.
type Selection struct {
	// File is the configuration file's path.
	File string
	// Name is the profile's name; "" when the file selects none (only the
	// plugin directory then applies).
	Name string
	// PluginDir is the file's pluginDir ("" when not set).
	PluginDir string
	Profile   Profile
}

// Select picks the profile called name, or the file's defaultProfile when
// name is "". A name the file does not have is an error listing those it
// has.
func (f *File) Select(name string) (*Selection, error) {
	if name == "" {
		name = f.DefaultProfile
	}
	s := &Selection{File: f.Path, Name: name, PluginDir: f.PluginDir}
	if name == "" {
		return s, nil
	}
	p, ok := f.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("config %s: profile %q does not exist (profiles: %s)", f.Path, name, f.profileList())
	}
	s.Profile = p
	return s, nil
}

// Origin names the profile in errors about its plugins.
func (s *Selection) Origin() string {
	return fmt.Sprintf("profile %q in %s", s.Name, s.File)
}

// Apply returns spec with the profile's choice for its kind: the binary
// (found in pluginDir unless absolute) and the settings. A nil selection,
// or a profile that does not name the kind, leaves spec as it is.
func (s *Selection) Apply(spec pluginhost.Spec, pluginDir string) pluginhost.Spec {
	if s == nil || s.Name == "" {
		return spec
	}
	p, ok := s.Profile[spec.Kind]
	if !ok {
		return spec
	}
	spec.Origin = s.Origin()
	if p.Binary != "" {
		spec.Path = p.Binary
		if !filepath.IsAbs(p.Binary) {
			spec.Path = filepath.Join(pluginDir, p.Binary)
		}
	}
	if len(p.Settings) > 0 {
		settings := make(map[string]string, len(spec.Settings)+len(p.Settings))
		for k, v := range spec.Settings {
			settings[k] = v
		}
		for k, v := range p.Settings {
			settings[k] = v
		}
		spec.Settings = settings
	}
	return spec
}
