package fake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/runtime/fake"
)

func TestNilFieldIsUnsupported(t *testing.T) {
	f := &fake.Runtime{}
	_, err := f.PullImage(context.Background(), "busybox", runtime.PullOptions{})
	if !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("PullImage with no PullImageFunc: got %v, want an error wrapping base.ErrUnsupported", err)
	}
	if err := f.StartContainer(context.Background(), "c1"); !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("StartContainer with no StartContainerFunc: got %v, want base.ErrUnsupported", err)
	}
	if err := f.PortForward(context.Background(), "sb", 80, nil); !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("PortForward with no PortForwardFunc: got %v, want base.ErrUnsupported", err)
	}
}

func TestFieldIsCalled(t *testing.T) {
	var got string
	f := &fake.Runtime{StartContainerFunc: func(_ context.Context, id string) error {
		got = id
		return nil
	}}
	if err := f.StartContainer(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	if got != "c1" {
		t.Fatalf("StartContainerFunc got id %q, want c1", got)
	}
}

func TestInfoDefault(t *testing.T) {
	info, err := (&fake.Runtime{}).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != base.KindRuntime || info.APIVersion != runtime.APIVersion {
		t.Fatalf("default Info = %+v, want kind runtime and API version %d", info, runtime.APIVersion)
	}
}
