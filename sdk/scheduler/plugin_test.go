package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
	"github.com/skiffhq/skiff/sdk/scheduler/fake"
)

func connect(t *testing.T, impl scheduler.Scheduler) scheduler.Scheduler {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		string(base.KindScheduler): &scheduler.GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller
	// service; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(base.KindScheduler))
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(scheduler.Scheduler)
}

func TestUpdateRoundTrip(t *testing.T) {
	want := []scheduler.Change{
		{Type: scheduler.Upsert, Node: &scheduler.Node{
			Name:          "n1",
			Labels:        map[string]string{"zone": "a"},
			Allocatable:   scheduler.Resources{MilliCPU: 4000, MemoryBytes: 8 << 30, Pods: 110},
			Ready:         true,
			Unschedulable: true,
			Taints: []scheduler.Taint{
				{Key: "node-role.kubernetes.io/control-plane", Effect: scheduler.TaintEffectNoSchedule},
				{Key: "dedicated", Value: "gpu", Effect: scheduler.TaintEffectNoExecute},
				{Key: "spot", Value: "true", Effect: scheduler.TaintEffectPreferNoSchedule},
			},
		}},
		{Type: scheduler.Upsert, Pod: &scheduler.Pod{
			Namespace:    "default",
			Name:         "web",
			UID:          "u1",
			NodeName:     "n1",
			Requests:     scheduler.Resources{MilliCPU: 250, MemoryBytes: 64 << 20},
			NodeSelector: map[string]string{"disk": "ssd"},
			Tolerations: []scheduler.Toleration{
				{Key: "node-role.kubernetes.io/control-plane", Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule},
				{Key: "dedicated", Operator: scheduler.TolerationOpEqual, Value: "gpu"},
				{Operator: scheduler.TolerationOpExists},
			},
		}},
		{Type: scheduler.Delete, Pod: &scheduler.Pod{Namespace: "default", Name: "old", Requests: scheduler.Resources{}}},
		{Type: scheduler.Delete, Node: &scheduler.Node{Name: "n0"}},
	}
	var got []scheduler.Change
	s := connect(t, &fake.Scheduler{UpdateFunc: func(_ context.Context, cs []scheduler.Change) error {
		got = cs
		return nil
	}})
	if err := s.Update(context.Background(), want); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plugin received\n%+v\nwant\n%+v", got, want)
	}
}

func TestUpdateRejectsMalformedChange(t *testing.T) {
	called := false
	s := connect(t, &fake.Scheduler{UpdateFunc: func(context.Context, []scheduler.Change) error {
		called = true
		return nil
	}})
	for name, c := range map[string]scheduler.Change{
		"neither": {Type: scheduler.Upsert},
		"both":    {Type: scheduler.Upsert, Node: &scheduler.Node{Name: "n"}, Pod: &scheduler.Pod{Name: "p"}},
		"type":    {Type: scheduler.ChangeType(7), Node: &scheduler.Node{Name: "n"}},
	} {
		err := s.Update(context.Background(), []scheduler.Change{c})
		if !errors.Is(err, base.ErrInvalid) {
			t.Errorf("%s: Update error = %v, want base.ErrInvalid", name, err)
		}
	}
	if called {
		t.Errorf("a malformed change reached the plugin")
	}
}

func TestScheduleRoundTrip(t *testing.T) {
	pods := []scheduler.Pod{
		{Namespace: "a", Name: "p1", UID: "u1", Requests: scheduler.Resources{MilliCPU: 1}},
		{Namespace: "b", Name: "p2", UID: "u2", NodeSelector: map[string]string{"k": "v"},
			Tolerations: []scheduler.Toleration{{Key: "k", Value: "v", Effect: scheduler.TaintEffectPreferNoSchedule}}},
	}
	want := []scheduler.Decision{
		{Namespace: "a", Name: "p1", NodeName: "n1"},
		{Namespace: "b", Name: "p2", Reason: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
	}
	s := connect(t, &fake.Scheduler{ScheduleFunc: func(_ context.Context, got []scheduler.Pod) ([]scheduler.Decision, error) {
		if !reflect.DeepEqual(got, pods) {
			return nil, fmt.Errorf("plugin received %+v, want %+v", got, pods)
		}
		return want, nil
	}})
	got, err := s.Schedule(context.Background(), pods)
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Schedule = %+v, want %+v", got, want)
	}
}

func TestScheduleChecksDecisionCount(t *testing.T) {
	s := connect(t, &fake.Scheduler{ScheduleFunc: func(context.Context, []scheduler.Pod) ([]scheduler.Decision, error) {
		return nil, nil
	}})
	_, err := s.Schedule(context.Background(), []scheduler.Pod{{Namespace: "a", Name: "p"}})
	if err == nil || !strings.Contains(err.Error(), "0 decisions for 1 pods") {
		t.Fatalf("Schedule error = %v, want a count mismatch", err)
	}
}

func TestErrorsCrossTheWire(t *testing.T) {
	s := connect(t, &fake.Scheduler{ScheduleFunc: func(_ context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
		return nil, fmt.Errorf("pod %q: %w", pods[0].Name, scheduler.ErrUnknownPod)
	}})
	_, err := s.Schedule(context.Background(), []scheduler.Pod{{Name: "x"}})
	if !errors.Is(err, scheduler.ErrUnknownPod) {
		t.Fatalf("error %v does not wrap scheduler.ErrUnknownPod", err)
	}
	if !strings.Contains(err.Error(), `pod "x"`) {
		t.Errorf("error %q lost the plugin's message", err)
	}
	// A nil function field in the fake is ErrUnsupported, on the wire too.
	if err := s.Update(context.Background(), nil); !errors.Is(err, base.ErrUnsupported) {
		t.Fatalf("Update on a fake without UpdateFunc: %v, want base.ErrUnsupported", err)
	}
}

func TestInfoAndConfigure(t *testing.T) {
	var gotCfg base.Config
	s := connect(t, &fake.Scheduler{
		InfoFunc: func(context.Context) (base.Info, error) {
			return base.Info{Name: "test", Version: "0.1", Settings: []base.SettingSpec{{Name: "weight", Default: "1"}}}, nil
		},
		ConfigureFunc: func(_ context.Context, cfg base.Config) error {
			gotCfg = cfg
			return nil
		},
	})
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	want := base.Info{Kind: base.KindScheduler, Name: "test", Version: "0.1", APIVersion: scheduler.APIVersion,
		Settings: []base.SettingSpec{{Name: "weight", Default: "1"}}}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("Info = %+v, want %+v (kind and API version filled in by the SDK)", info, want)
	}
	cfg := base.Config{DataDir: "/var/lib/skiff/scheduler", Settings: map[string]string{"weight": "2"}}
	if err := s.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if !reflect.DeepEqual(gotCfg, cfg) {
		t.Errorf("plugin got config %+v, want %+v", gotCfg, cfg)
	}
}

func TestClientVersions(t *testing.T) {
	vs := scheduler.ClientVersions()
	p, ok := vs[scheduler.APIVersion].(*scheduler.GRPCPlugin)
	if !ok || p.Impl != nil {
		t.Fatalf("ClientVersions()[%d] = %#v, want an empty *scheduler.GRPCPlugin", scheduler.APIVersion, vs[scheduler.APIVersion])
	}
}
