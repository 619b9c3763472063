package containerdruntime

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
	"github.com/skiffhq/skiff/sdk/base"
)

// TestLogDriverURI: the shim turns the URI into the driver's command line
// (containerd's pkg/process.NewBinaryCmd: path, then each query key and its
// first value), which the driver must understand.
func TestLogDriverURI(t *testing.T) {
	io, err := logDriverIO("/usr/lib/skiff/skiff-log-driver", "/logs/a b&c=d.log", true)("c1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := io.Config()
	if !cfg.Terminal || cfg.Stdout != cfg.Stderr || !strings.HasPrefix(cfg.Stdout, "binary:///usr/lib/skiff/skiff-log-driver?") {
		t.Fatalf("IO config %+v", cfg)
	}
	u, err := url.Parse(cfg.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for k, vs := range u.Query() {
		args = append(args, k, vs[0])
	}
	got, err := crilog.ParseDriverArgs(args)
	if err != nil || got != (crilog.DriverArgs{Path: "/logs/a b&c=d.log", TTY: true}) || u.Path != "/usr/lib/skiff/skiff-log-driver" {
		t.Errorf("the shim would run %s %q, which means %+v, %v", u.Path, args, got, err)
	}
	// The bench finds the drivers by these arguments.
	if !strings.Contains(cfg.Stdout, crilog.ArgMarker+"=") || !strings.Contains(cfg.Stdout, crilog.ArgPath+"=") {
		t.Errorf("URI %s lacks the marker or the log path", cfg.Stdout)
	}
}

func TestInfoNamesTheDefaultLogDriver(t *testing.T) {
	info, err := New().Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if s.Name == SettingLogDriver {
			if want := filepath.Join(filepath.Dir(exe), LogDriverName); s.Default != want {
				t.Errorf("log_driver defaults to %q, want %q", s.Default, want)
			}
			return
		}
	}
	t.Errorf("no %s setting in %+v", SettingLogDriver, info.Settings)
}

// TestConfigureChecksTheLogDriver: a log driver the shim could not run is
// refused before anything else, with the setting named.
func TestConfigureChecksTheLogDriver(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		settings map[string]string
		want     string
	}{
		// The test binary has no skiff-log-driver beside it.
		"default":        {map[string]string{}, "does not exist"},
		"relative":       {map[string]string{SettingLogDriver: "skiff-log-driver"}, "absolute"},
		"missing":        {map[string]string{SettingLogDriver: filepath.Join(dir, "nope")}, "does not exist"},
		"directory":      {map[string]string{SettingLogDriver: dir}, "not an executable file"},
		"not executable": {map[string]string{SettingLogDriver: notExec}, "not an executable file"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base.Config{DataDir: filepath.Join(dir, "data"), Settings: tc.settings}
			err := New().Configure(context.Background(), cfg)
			if err == nil || !errors.Is(err, base.ErrInvalid) || !strings.Contains(err.Error(), `"log_driver"`) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Configure: %v; want an invalid-setting error naming log_driver and saying %q", err, tc.want)
			}
		})
	}
}
