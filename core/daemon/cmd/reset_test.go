package cmd

import (
	"io"
	"testing"
)

// skiffd reset takes the flags that locate a node's leftovers with the
// names and defaults skiffd dev and agent give them.
func TestResetFlagsMatchDevAndAgent(t *testing.T) {
	root := NewRoot(io.Discard, io.Discard)
	reset, _, err := root.Find([]string{"reset"})
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"dev", "agent"} {
		sub, _, err := root.Find([]string{mode})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"data-dir", "plugin-dir", "config", "profile", "containerd-socket", "runtime-namespace", "pod-bridge"} {
			want := sub.Flags().Lookup(name)
			got := reset.Flags().Lookup(name)
			if want == nil || got == nil {
				t.Fatalf("--%s: %s has %v, reset has %v", name, mode, want != nil, got != nil)
			}
			if got.DefValue != want.DefValue || got.Value.Type() != want.Value.Type() {
				t.Errorf("--%s: reset's default %q (%s), %s's %q (%s)", name, got.DefValue, got.Value.Type(), mode, want.DefValue, want.Value.Type())
			}
		}
	}
	if f := reset.Flags().Lookup("force"); f == nil || f.DefValue != "false" {
		t.Errorf("reset has no --force defaulting to false")
	}
}
