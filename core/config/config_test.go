package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
)

const example = `
pluginDir: /opt/skiff/plugins
profiles:
  dev:
    scheduler: {binary: skiff-scheduler-spread}
    runtime:   {binary: skiff-runtime-containerd, settings: {namespace: skiff-dev}}
  prod:
    scheduler: {binary: skiff-scheduler-binpack}
    network:
      settings:
        mtu: 1450
        bridge: br-prod
`

func TestParseExample(t *testing.T) {
	f, err := Parse([]byte(example), "/etc/skiff/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.PluginDir != "/opt/skiff/plugins" {
		t.Errorf("PluginDir = %q", f.PluginDir)
	}
	want := map[string]Profile{
		"dev": {
			base.KindScheduler: {Binary: "skiff-scheduler-spread"},
			base.KindRuntime:   {Binary: "skiff-runtime-containerd", Settings: map[string]string{"namespace": "skiff-dev"}},
		},
		"prod": {
			base.KindScheduler: {Binary: "skiff-scheduler-binpack"},
			base.KindNetwork:   {Settings: map[string]string{"mtu": "1450", "bridge": "br-prod"}},
		},
	}
	if !reflect.DeepEqual(f.Profiles, want) {
		t.Errorf("profiles = %+v\nwant %+v", f.Profiles, want)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"UnknownTopLevelKey", "pluginDirectory: /x\n", []string{`unknown field "pluginDirectory"`}},
		{"UnknownKind", "profiles:\n  dev:\n    schedular: {binary: x}\n", []string{`unknown field "profiles.dev.schedular"`, "scheduler"}},
		{"UnknownPluginKey", "profiles:\n  dev:\n    runtime: {binary: x, setting: {a: b}}\n", []string{`unknown field "profiles.dev.runtime.setting"`}},
		{"DuplicateKey", "profiles:\n  dev:\n    runtime: {binary: x}\n    runtime: {binary: y}\n", []string{"runtime"}},
		{"ListSetting", "profiles:\n  dev:\n    network: {settings: {mtu: [1, 2]}}\n", []string{"profiles.dev.network.settings.mtu", "not a list or map"}},
		{"MissingDefaultProfile", "defaultProfile: staging\nprofiles:\n  dev: {}\n", []string{`defaultProfile: profile "staging" does not exist (profiles: dev)`}},
		{"NotYAML", "profiles: [\n", []string{"config /etc/skiff.yaml"}},
		{"BinaryWithSpaces", "profiles:\n  dev:\n    runtime: {binary: ' x'}\n", []string{"profiles.dev.runtime.binary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "/etc/skiff.yaml")
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestSelect(t *testing.T) {
	f, err := Parse([]byte(example+"defaultProfile: prod\n"), "/etc/skiff/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.Select("")
	if err != nil || s.Name != "prod" {
		t.Fatalf("Select(\"\") = %+v, %v; want the default profile prod", s, err)
	}
	if _, err := f.Select("staging"); err == nil || !strings.Contains(err.Error(), `profile "staging" does not exist (profiles: dev, prod)`) {
		t.Errorf("Select(staging): %v", err)
	}
	none, err := Parse([]byte("pluginDir: plugins\n"), "/etc/skiff/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err = none.Select("")
	if err != nil || s.Name != "" || s.PluginDir != "/etc/skiff/plugins" {
		t.Errorf("no profile: %+v, %v; want none selected and pluginDir relative to the file", s, err)
	}
}

func TestApply(t *testing.T) {
	f, err := Parse([]byte(example+"    volumes: {binary: /usr/local/bin/my-volumes}\n"), "/etc/skiff/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dev, _ := f.Select("dev")
	prod, _ := f.Select("prod")
	def := pluginhost.Spec{Kind: base.KindRuntime, Path: "/bin/skiff-runtime-containerd", Offered: map[string]string{"address": "/run/c.sock"}}

	got := dev.Apply(def, "/plugins")
	if got.Path != "/plugins/skiff-runtime-containerd" || got.Settings["namespace"] != "skiff-dev" || got.Offered["address"] != "/run/c.sock" {
		t.Errorf("dev runtime spec = %+v", got)
	}
	if !strings.Contains(got.Origin, `profile "dev" in /etc/skiff/config.yaml`) {
		t.Errorf("Origin = %q", got.Origin)
	}
	// A kind the profile does not name keeps the default.
	if got := prod.Apply(def, "/plugins"); !reflect.DeepEqual(got, def) {
		t.Errorf("prod runtime spec = %+v, want the default %+v", got, def)
	}
	vol := prod.Apply(pluginhost.Spec{Kind: base.KindVolumes, Path: "/bin/skiff-volumes"}, "/plugins")
	if vol.Path != "/usr/local/bin/my-volumes" {
		t.Errorf("absolute binary: %q", vol.Path)
	}
	var nothing *Selection
	if got := nothing.Apply(def, "/plugins"); !reflect.DeepEqual(got, def) {
		t.Errorf("nil selection changed the spec: %+v", got)
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "skiff.yaml")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path)
	if err != nil || f.Path != path || len(f.Profiles) != 2 {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
}
