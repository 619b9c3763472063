package daemon

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

func TestParseTaints(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []corev1.Taint
	}{
		{"", nil},
		{"node-role.kubernetes.io/control-plane=:NoSchedule",
			[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
		{"node-role.kubernetes.io/control-plane:NoSchedule",
			[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
		{"dedicated=gpu:NoExecute,spot=true:PreferNoSchedule,dedicated=gpu:NoSchedule", []corev1.Taint{
			{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoExecute},
			{Key: "spot", Value: "true", Effect: corev1.TaintEffectPreferNoSchedule},
			{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule},
		}},
	} {
		got, err := ParseTaints(tc.in)
		if err != nil || !apiequality.Semantic.DeepEqual(got, tc.want) {
			t.Errorf("ParseTaints(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"node-role.kubernetes.io/control-plane", `taint "node-role.kubernetes.io/control-plane": want key=value:Effect or key:Effect, with Effect NoSchedule, PreferNoSchedule or NoExecute`},
		{"a=b:NoSchedule,c=d", `taint "c=d": want key=value:Effect`},
		{"a=b:NoSchedule,", `taint "": want key=value:Effect`},
		{"k=v:Never", `taint "k=v:Never": effect "Never" is not NoSchedule, PreferNoSchedule or NoExecute`},
		{"k=v:noschedule", `taint "k=v:noschedule": effect "noschedule" is not NoSchedule`},
		{"k=v:", `taint "k=v:": effect "" is not NoSchedule`},
		{"=v:NoSchedule", `taint "=v:NoSchedule": key "": name part must be non-empty`},
		{"a b=v:NoSchedule", `taint "a b=v:NoSchedule": key "a b": name part must consist of alphanumeric characters`},
		{"x:y=v:NoSchedule", `taint "x:y=v:NoSchedule": key "x:y": name part must consist of alphanumeric characters`},
		{"k=a/b:NoSchedule", `taint "k=a/b:NoSchedule": value "a/b": a valid label must be an empty string or consist of alphanumeric characters`},
		{"k=a=b:NoSchedule", `taint "k=a=b:NoSchedule": value "a=b": a valid label must be`},
		{"ok=1:NoSchedule,k=a:NoExecute,k=b:NoExecute", `taint "k=b:NoExecute": key "k" with effect NoExecute is given twice (taints are unique by key and effect)`},
	} {
		got, err := ParseTaints(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTaints(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
}
