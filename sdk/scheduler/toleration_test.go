package scheduler_test

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/scheduler"
)

// ToleratesTaint is Kubernetes' core/v1 Toleration.ToleratesTaint.
func TestToleratesTaint(t *testing.T) {
	cp := scheduler.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: scheduler.TaintEffectNoSchedule}
	gpu := scheduler.Taint{Key: "dedicated", Value: "gpu", Effect: scheduler.TaintEffectNoExecute}
	for _, tc := range []struct {
		name  string
		tol   scheduler.Toleration
		taint scheduler.Taint
		want  bool
	}{
		{"Exists on the key", scheduler.Toleration{Key: cp.Key, Operator: scheduler.TolerationOpExists}, cp, true},
		{"Exists on another key", scheduler.Toleration{Key: "other", Operator: scheduler.TolerationOpExists}, cp, false},
		{"Exists with the effect", scheduler.Toleration{Key: cp.Key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule}, cp, true},
		{"Exists with another effect", scheduler.Toleration{Key: cp.Key, Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectPreferNoSchedule}, cp, false},
		{"Exists on every key", scheduler.Toleration{Operator: scheduler.TolerationOpExists}, gpu, true},
		{"Exists on every key of one effect", scheduler.Toleration{Operator: scheduler.TolerationOpExists, Effect: scheduler.TaintEffectNoSchedule}, gpu, false},
		{"Equal, same value", scheduler.Toleration{Key: "dedicated", Operator: scheduler.TolerationOpEqual, Value: "gpu"}, gpu, true},
		{"Equal, other value", scheduler.Toleration{Key: "dedicated", Operator: scheduler.TolerationOpEqual, Value: "tpu"}, gpu, false},
		{"no operator is Equal", scheduler.Toleration{Key: "dedicated", Value: "gpu"}, gpu, true},
		{"Equal, empty value", scheduler.Toleration{Key: cp.Key}, cp, true},
		{"Equal, empty value against a value", scheduler.Toleration{Key: "dedicated"}, gpu, false},
		{"unknown operator", scheduler.Toleration{Key: "dedicated", Operator: "Gt", Value: "gpu"}, gpu, false},
	} {
		if got := tc.tol.ToleratesTaint(tc.taint); got != tc.want {
			t.Errorf("%s: %+v.ToleratesTaint(%+v) = %v, want %v", tc.name, tc.tol, tc.taint, got, tc.want)
		}
	}
	if scheduler.Tolerates(nil, cp) {
		t.Errorf("no tolerations tolerate %+v", cp)
	}
	if !scheduler.Tolerates([]scheduler.Toleration{{Key: "other", Operator: scheduler.TolerationOpExists}, {Key: cp.Key, Operator: scheduler.TolerationOpExists}}, cp) {
		t.Errorf("the second toleration should tolerate %+v", cp)
	}
}
