package conformance

import (
	"os"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func (s *suite) testInfo(t *testing.T) {
	info, err := s.rt.Info(s.ctx(t))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindRuntime {
		t.Errorf("Info().Kind = %q, want %q", info.Kind, base.KindRuntime)
	}
	if info.Name == "" {
		t.Error("Info().Name is empty")
	}
	if info.APIVersion != runtime.APIVersion {
		t.Errorf("Info().APIVersion = %d, want %d", info.APIVersion, runtime.APIVersion)
	}
}

func (s *suite) config() base.Config {
	return base.Config{NodeName: "conformance", DataDir: s.opts.DataDir, Settings: s.opts.Settings}
}

// configure is the suite's setup: the first Configure.
func (s *suite) configure(t *testing.T) {
	t.Helper()
	if err := s.rt.Configure(s.ctx(t), s.config()); err != nil {
		t.Fatalf("conformance setup: Configure(%+v): %v", s.config(), err)
	}
}

func (s *suite) testConfigure(t *testing.T) {
	// The core calls Configure again after restarting a plugin; a plugin
	// that is still alive must accept it too, and keep working.
	if err := s.rt.Configure(s.ctx(t), s.config()); err != nil {
		t.Fatalf("second Configure(%+v): %v", s.config(), err)
	}
	if _, err := s.rt.ImageStatus(s.ctx(t), s.opts.ImageRef); err != nil {
		t.Fatalf("ImageStatus(%q) after a second Configure: %v", s.opts.ImageRef, err)
	}
}

func (s *suite) importImage(t *testing.T) []runtime.Image {
	t.Helper()
	f, err := os.Open(s.opts.ImageArchive)
	if err != nil {
		t.Fatalf("image archive: %v", err)
	}
	defer f.Close()
	imgs, err := s.rt.ImportImages(s.ctx(t), f)
	if err != nil {
		t.Fatalf("ImportImages(%s): %v", s.opts.ImageArchive, err)
	}
	return imgs
}

func findImage(imgs []runtime.Image, ref string) (runtime.Image, bool) {
	for _, img := range imgs {
		if img.Ref == ref {
			return img, true
		}
	}
	return runtime.Image{}, false
}

func (s *suite) testImportImages(t *testing.T) {
	imgs := s.importImage(t)
	img, ok := findImage(imgs, s.opts.ImageRef)
	if !ok {
		t.Fatalf("ImportImages returned %+v, want an image with ref %q", imgs, s.opts.ImageRef)
	}
	if !strings.HasPrefix(img.ID, "sha256:") || img.Size <= 0 {
		t.Errorf("imported image %+v: want an ID \"sha256:...\" and a positive size", img)
	}

	list, err := s.rt.ListImages(s.ctx(t))
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if got, ok := findImage(list, s.opts.ImageRef); !ok || got.ID != img.ID {
		t.Errorf("ListImages() = %+v, want %q with ID %s", list, s.opts.ImageRef, img.ID)
	}

	st, err := s.rt.ImageStatus(s.ctx(t), s.opts.ImageRef)
	if err != nil {
		t.Fatalf("ImageStatus(%q): %v", s.opts.ImageRef, err)
	}
	if st.ID != img.ID || st.Ref != s.opts.ImageRef {
		t.Errorf("ImageStatus(%q) = %+v, want ID %s", s.opts.ImageRef, st, img.ID)
	}

	// Importing the same archive again is harmless.
	again, ok := findImage(s.importImage(t), s.opts.ImageRef)
	if !ok || again.ID != img.ID {
		t.Errorf("second import gave %+v, want the same image %s", again, img.ID)
	}
}

func (s *suite) testImageStatusNotFound(t *testing.T) {
	const ref = "skiff.invalid/conformance/missing:0"
	_, err := s.rt.ImageStatus(s.ctx(t), ref)
	wantErrorIs(t, "ImageStatus of an image that is not there", err, base.ErrNotFound)
}

func (s *suite) testImportInvalidArchive(t *testing.T) {
	_, err := s.rt.ImportImages(s.ctx(t), strings.NewReader("this is not an image archive"))
	wantErrorIs(t, "ImportImages of a text", err, runtime.ErrInvalidArchive)
}

func (s *suite) testPullImage(t *testing.T) {
	t.Run("Unreachable", func(t *testing.T) {
		// Nothing listens on port 1 of the loopback.
		const ref = "127.0.0.1:1/conformance/unreachable:0"
		_, err := s.rt.PullImage(s.ctx(t), ref, runtime.PullOptions{PlainHTTPRegistries: []string{"127.0.0.1:1"}})
		wantErrorIs(t, "PullImage from a registry that does not answer", err, runtime.ErrImagePull)
	})
	t.Run("FromRegistry", func(t *testing.T) {
		p := s.opts.Pull
		if p == nil {
			t.Skip("Options.Pull is not set: no registry to pull from")
		}
		img, err := s.rt.PullImage(s.ctx(t), p.Ref, runtime.PullOptions{PlainHTTPRegistries: p.PlainHTTPRegistries})
		if err != nil {
			t.Fatalf("PullImage(%q): %v", p.Ref, err)
		}
		if img.Ref != p.Ref || !strings.HasPrefix(img.ID, "sha256:") {
			t.Errorf("PullImage(%q) = %+v, want that ref and a config digest ID", p.Ref, img)
		}
		st, err := s.rt.ImageStatus(s.ctx(t), p.Ref)
		if err != nil || st.ID != img.ID {
			t.Errorf("ImageStatus after pull = %+v, %v; want ID %s", st, err, img.ID)
		}
		// The pulled image runs.
		sb := s.sandbox(t, runtime.SandboxConfig{})
		cfg := sh("echo pulled")
		cfg.Image = p.Ref
		st2 := s.runToExit(t, sb, cfg)
		if st2.ExitCode != 0 {
			t.Errorf("container of the pulled image exited %d (%s), want 0", st2.ExitCode, st2.Reason)
		}
	})
}
