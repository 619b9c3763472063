package rawexec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Name and Version are what Info reports.
const (
	Name    = "rawexec"
	Version = "0.1.0"
)

// Runtime is the rawexec runtime. Make it with New, then Configure it.
type Runtime struct {
	shimBinary string

	state sync.Mutex // serializes changes to the state files

	mu      sync.Mutex
	dataDir string // "" until Configure
}

var _ runtime.Runtime = (*Runtime)(nil)

// Option tunes New.
type Option func(*Runtime)

// WithShimBinary sets the executable run as the containers' shim; it must
// call RunShimIfInvoked first thing in main. The default is the running
// executable.
func WithShimBinary(path string) Option { return func(r *Runtime) { r.shimBinary = path } }

// New returns an unconfigured runtime.
func New(opts ...Option) *Runtime {
	r := &Runtime{}
	for _, o := range opts {
		o(r)
	}
	if r.shimBinary == "" {
		if exe, err := os.Executable(); err == nil {
			r.shimBinary = exe
		}
	}
	return r
}

// Info implements base.Plugin. rawexec has no settings.
func (r *Runtime) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindRuntime, Name: Name, Version: Version, APIVersion: runtime.APIVersion}, nil
}

// Configure implements base.Plugin: it makes the state directories. Calling
// it again (after a restart of the core) is harmless.
func (r *Runtime) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(nil, cfg.Settings); err != nil {
		return fmt.Errorf("rawexec: %w", err)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("rawexec: a data directory is required: %w", base.ErrInvalid)
	}
	// Containers may run as any user (runAsUser): they must be able to
	// reach their sandbox's directory (so the data directory and
	// sandboxes/ are traversable by all), though not list the others.
	if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
		return fmt.Errorf("rawexec: %w", err)
	}
	if st, err := os.Stat(cfg.DataDir); err != nil {
		return fmt.Errorf("rawexec: %w", err)
	} else if st.Mode().Perm()&0o011 != 0o011 {
		if err := os.Chmod(cfg.DataDir, st.Mode().Perm()|0o011); err != nil {
			return fmt.Errorf("rawexec: %w", err)
		}
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"sandboxes", 0o711}, {"containers", 0o700}} {
		path := filepath.Join(cfg.DataDir, d.name)
		if err := os.MkdirAll(path, d.mode); err != nil {
			return fmt.Errorf("rawexec: %w", err)
		}
		if err := os.Chmod(path, d.mode); err != nil {
			return fmt.Errorf("rawexec: %w", err)
		}
	}
	r.mu.Lock()
	r.dataDir = cfg.DataDir
	r.mu.Unlock()
	return nil
}

// dir returns the data directory, or ErrNotConfigured.
func (r *Runtime) dir() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dataDir == "" {
		return "", fmt.Errorf("rawexec: Configure has not been called: %w", base.ErrNotConfigured)
	}
	return r.dataDir, nil
}

func newID() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// writeJSON writes v to path atomically (temporary file, then rename).
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
