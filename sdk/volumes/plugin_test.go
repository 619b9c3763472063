package volumes_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/volumes"
	"github.com/skiffhq/skiff/sdk/volumes/fake"
)

func connect(t *testing.T, impl volumes.Volumes) volumes.Volumes {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindVolumes): &volumes.GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller service.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(base.KindVolumes))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(volumes.Volumes)
}

func TestPrepareRoundTrip(t *testing.T) {
	pod := volumes.Pod{Namespace: "default", Name: "web", UID: "u1", Volumes: []volumes.Volume{
		{Name: "scratch", EmptyDir: &volumes.EmptyDir{Medium: "Memory", SizeLimitBytes: 64 << 20}},
		{Name: "config", Files: &volumes.Files{
			Data:        map[string][]byte{"a.conf": []byte("x=1\n"), "b": {0, 1, 2}},
			Items:       []volumes.KeyToPath{{Key: "a.conf", Path: "conf/a.conf", Mode: 0o600}, {Key: "b", Path: "b"}},
			DefaultMode: 0o644,
			Sensitive:   true,
			Keep:        true,
		}},
	}}
	want := []volumes.Mounted{{Name: "scratch", HostPath: "/data/pods/u1/volumes/scratch"}, {Name: "config", HostPath: "/data/pods/u1/volumes/config"}}
	v := connect(t, &fake.Volumes{PrepareFunc: func(_ context.Context, got volumes.Pod) ([]volumes.Mounted, error) {
		if !reflect.DeepEqual(got, pod) {
			return nil, fmt.Errorf("plugin received %+v, want %+v", got, pod)
		}
		return want, nil
	}})
	got, err := v.Prepare(context.Background(), pod)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Prepare = %+v, want %+v", got, want)
	}
}

func TestPrepareChecksMountCount(t *testing.T) {
	v := connect(t, &fake.Volumes{PrepareFunc: func(context.Context, volumes.Pod) ([]volumes.Mounted, error) {
		return nil, nil
	}})
	_, err := v.Prepare(context.Background(), volumes.Pod{Name: "web", Volumes: []volumes.Volume{{Name: "a"}}})
	if err == nil || !strings.Contains(err.Error(), "0 mounts for 1 volumes") {
		t.Fatalf("Prepare error = %v, want a count mismatch", err)
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	var gotUID string
	v := connect(t, &fake.Volumes{
		PrepareFunc: func(context.Context, volumes.Pod) ([]volumes.Mounted, error) {
			return nil, fmt.Errorf(`volume "config": item path "../x": %w`, volumes.ErrInvalidPath)
		},
		TeardownFunc: func(_ context.Context, uid string) error {
			gotUID = uid
			return nil
		},
	})
	_, err := v.Prepare(context.Background(), volumes.Pod{})
	if !errors.Is(err, volumes.ErrInvalidPath) {
		t.Fatalf("Prepare error %v does not wrap volumes.ErrInvalidPath", err)
	}
	if !strings.Contains(err.Error(), `item path "../x"`) {
		t.Errorf("error %q lost the plugin's message", err)
	}
	if err := v.Teardown(context.Background(), "u1"); err != nil || gotUID != "u1" {
		t.Fatalf("Teardown = %v, plugin got %q; want nil, u1", err, gotUID)
	}
	if _, err := connect(t, &fake.Volumes{}).Info(context.Background()); !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("Info on an empty fake: %v, want base.ErrUnsupported", err)
	}
}

func TestInfo(t *testing.T) {
	v := connect(t, &fake.Volumes{InfoFunc: func(context.Context) (base.Info, error) {
		return base.Info{Name: "test"}, nil
	}})
	info, err := v.Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Kind != base.KindVolumes || info.APIVersion != volumes.APIVersion {
		t.Fatalf("Info = %+v, want kind %q and API version %d filled in", info, base.KindVolumes, volumes.APIVersion)
	}
}

func TestHostPathAndSubPathRoundTrip(t *testing.T) {
	pod := volumes.Pod{Namespace: "default", Name: "web", UID: "u1", Volumes: []volumes.Volume{
		{Name: "logs", HostPath: &volumes.HostPath{Path: "/var/log", Type: "Directory"}},
	}}
	sp := volumes.SubPath{PodUID: "u1", Volume: "logs", HostPath: "/var/log", Path: "app/x", Container: "c", Index: 2}
	v := connect(t, &fake.Volumes{
		PrepareFunc: func(_ context.Context, got volumes.Pod) ([]volumes.Mounted, error) {
			if !reflect.DeepEqual(got, pod) {
				return nil, fmt.Errorf("plugin received %+v, want %+v", got, pod)
			}
			return []volumes.Mounted{{Name: "logs", HostPath: "/var/log"}}, nil
		},
		SubPathFunc: func(_ context.Context, got volumes.SubPath) (string, error) {
			if got != sp {
				return "", fmt.Errorf("plugin received %+v, want %+v", got, sp)
			}
			if got.Path == "../x" {
				return "", volumes.ErrInvalidPath
			}
			return "/data/pods/u1/volume-subpaths/logs/c/2", nil
		},
	})
	if _, err := v.Prepare(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	got, err := v.PrepareSubPath(context.Background(), sp)
	if err != nil || got != "/data/pods/u1/volume-subpaths/logs/c/2" {
		t.Fatalf("PrepareSubPath = %q, %v", got, err)
	}
	if _, err := connect(t, &fake.Volumes{}).PrepareSubPath(context.Background(), sp); !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("PrepareSubPath on an empty fake: %v, want base.ErrUnsupported", err)
	}
}
