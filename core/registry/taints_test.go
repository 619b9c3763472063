package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func decodeNode(t *testing.T, doc string) (*corev1.Node, error) {
	t.Helper()
	obj, err := NodeStrategy{}.Decode([]byte(doc))
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}

func TestPodTolerationsAccepted(t *testing.T) {
	pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
		"containers":[{"name":"a","image":"i"}],
		"tolerations":[
			{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"},
			{"key":"dedicated","operator":"Equal","value":"gpu","effect":"PreferNoSchedule"},
			{"key":"dedicated","value":"gpu"},
			{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},
			{"operator":"Exists"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	PodStrategy{}.PrepareForCreate(pod)
	if errs := (PodStrategy{}).Validate(pod); len(errs) > 0 {
		t.Fatalf("valid tolerations refused: %v", errs)
	}
	if len(pod.Spec.Tolerations) != 5 || pod.Spec.Tolerations[3].TolerationSeconds == nil || *pod.Spec.Tolerations[3].TolerationSeconds != 300 {
		t.Errorf("tolerations decoded as %+v", pod.Spec.Tolerations)
	}
}

func TestPodTolerationsRefused(t *testing.T) {
	for _, tc := range []struct{ name, tolerations, want string }{
		{"unknown toleration field", `[{"key":"k","operator":"Exists","colour":"blue"}]`, `unknown field "spec.tolerations[0].colour"`},
		{"key not a qualified name", `[{"key":"-bad-","operator":"Exists"}]`,
			`spec.tolerations[0].key: Invalid value: "-bad-": name part must consist of alphanumeric characters`},
		{"key with two slashes", `[{"key":"a/b/c","operator":"Exists"}]`,
			`spec.tolerations[0].key: Invalid value: "a/b/c": a valid label key must consist of alphanumeric characters`},
		{"empty key with Equal", `[{"operator":"Equal","value":""}]`,
			"spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""},
		{"empty key without operator", `[{"effect":"NoSchedule"}]`,
			"spec.tolerations[0].operator: Invalid value: \"\": operator must be Exists when `key` is empty"},
		{"tolerationSeconds without NoExecute", `[{"key":"k","operator":"Exists","effect":"NoSchedule","tolerationSeconds":10}]`,
			"spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"},
		{"tolerationSeconds without an effect", `[{"key":"k","operator":"Exists","tolerationSeconds":10}]`,
			"spec.tolerations[0].effect: Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set"},
		{"Equal value not a label value", `[{"key":"k","operator":"Equal","value":"a b"}]`,
			`spec.tolerations[0].operator: Invalid value: "a b": a valid label must be an empty string or consist of alphanumeric characters`},
		{"value with Exists", `[{"key":"k","operator":"Exists","value":"v"}]`,
			"spec.tolerations[0].operator: Invalid value: {\"key\":\"k\",\"operator\":\"Exists\",\"value\":\"v\"}: value must be empty when `operator` is 'Exists'"},
		{"unknown operator", `[{"key":"k","operator":"In","value":"v"}]`,
			`spec.tolerations[0].operator: Unsupported value: "In": supported values: "Equal", "Exists"`},
		{"comparison operators are off, as in Kubernetes by default", `[{"key":"k","operator":"Gt","value":"5"}]`,
			`spec.tolerations[0].operator: Unsupported value: "Gt": supported values: "Equal", "Exists"`},
		{"unknown effect", `[{"key":"k","operator":"Exists","effect":"NoScheduleNoAdmit"}]`,
			`spec.tolerations[0].effect: Unsupported value: "NoScheduleNoAdmit": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"the index of the bad one", `[{"key":"k","operator":"Exists"},{"key":"k2","operator":"Exists","effect":"Never"}]`,
			`spec.tolerations[1].effect: Unsupported value: "Never"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
				"containers":[{"name":"a","image":"i"}],"tolerations":`+tc.tolerations+`}}`)
			if err == nil {
				PodStrategy{}.PrepareForCreate(pod)
				err = (PodStrategy{}).Validate(pod).ToAggregate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// As in Kubernetes, a pod update may add tolerations and change an
// existing one's tolerationSeconds, nothing else about them.
func TestPodUpdateOnlyAddsTolerations(t *testing.T) {
	old, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
		"containers":[{"name":"a","image":"i:1"}],
		"tolerations":[{"key":"k","operator":"Exists","effect":"NoExecute","tolerationSeconds":60}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	PodStrategy{}.PrepareForCreate(old)
	update := func(f func(p *corev1.Pod)) field.ErrorList {
		p := old.DeepCopy()
		f(p)
		if err := (PodStrategy{}).PrepareForUpdate(p, old, ""); err != nil {
			t.Fatal(err)
		}
		return PodStrategy{}.ValidateUpdate(p, old)
	}
	if errs := update(func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists})
	}); len(errs) > 0 {
		t.Errorf("adding a toleration refused: %v", errs)
	}
	if errs := update(func(p *corev1.Pod) {
		s := int64(10)
		p.Spec.Tolerations[0].TolerationSeconds = &s
	}); len(errs) > 0 {
		t.Errorf("changing tolerationSeconds refused: %v", errs)
	}
	const modified = "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
	for name, f := range map[string]func(p *corev1.Pod){
		"removed":        func(p *corev1.Pod) { p.Spec.Tolerations = nil },
		"effect changed": func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = corev1.TaintEffectNoSchedule },
		"key changed":    func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "other" },
		"replaced by new": func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists}}
		},
	} {
		errs := update(f)
		if !strings.Contains(errText(errs), modified) {
			t.Errorf("%s: errors %v, want %q", name, errs, modified)
		}
	}
	errs := update(func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k2", Operator: corev1.TolerationOpExists, Value: "v"})
	})
	if !strings.Contains(errText(errs), "spec.tolerations[1].operator: Invalid value") {
		t.Errorf("an invalid added toleration: errors %v", errs)
	}
	if errs := update(func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }); !strings.Contains(errText(errs),
		"pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.tolerations` (only additions to existing tolerations)") {
		t.Errorf("a command change: errors %v", errs)
	}
}

func TestNodeTaintsAccepted(t *testing.T) {
	node, err := decodeNode(t, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"kind-control-plane"},"spec":{"taints":[
		{"key":"node-role.kubernetes.io/control-plane","effect":"NoSchedule"},
		{"key":"node-role.kubernetes.io/control-plane","effect":"PreferNoSchedule"},
		{"key":"dedicated","value":"gpu","effect":"NoExecute"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	NodeStrategy{}.PrepareForCreate(node)
	if errs := (NodeStrategy{}).Validate(node); len(errs) > 0 {
		t.Fatalf("valid taints refused: %v", errs)
	}
	if got := node.Spec.Taints[0].ToString(); got != "node-role.kubernetes.io/control-plane:NoSchedule" {
		t.Errorf("first taint %q", got)
	}
}

func TestNodeTaintsRefused(t *testing.T) {
	for _, tc := range []struct{ name, taints, want string }{
		{"timeAdded is not supported", `[{"key":"k","effect":"NoExecute","timeAdded":"2024-01-01T00:00:00Z"}]`,
			"spec.taints[0].timeAdded: not supported by skiff"},
		{"no key", `[{"effect":"NoSchedule"}]`, `spec.taints[0].key: Invalid value: "": name part must be non-empty`},
		{"bad key", `[{"key":"a b","effect":"NoSchedule"}]`, `spec.taints[0].key: Invalid value: "a b": name part must consist of alphanumeric characters`},
		{"bad value", `[{"key":"k","value":"a/b","effect":"NoSchedule"}]`,
			`spec.taints[0].value: Invalid value: "a/b": a valid label must be an empty string or consist of alphanumeric characters`},
		{"no effect", `[{"key":"k"}]`, "spec.taints[0].effect: Required value"},
		{"unknown effect", `[{"key":"k","effect":"NoAdmit"}]`,
			`spec.taints[0].effect: Unsupported value: "NoAdmit": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"`},
		{"same key and effect twice", `[{"key":"k","value":"a","effect":"NoSchedule"},{"key":"k","value":"b","effect":"NoSchedule"}]`,
			`spec.taints[1]: Duplicate value: {"key":"k","value":"b","effect":"NoSchedule"}: taints must be unique by key and effect pair`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node, err := decodeNode(t, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"taints":`+tc.taints+`}}`)
			if err == nil {
				NodeStrategy{}.PrepareForCreate(node)
				err = (NodeStrategy{}).Validate(node).ToAggregate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// Taints are spec: a status write keeps them, an update of the node
// changes them and is validated.
func TestNodeUpdateTaints(t *testing.T) {
	old, err := decodeNode(t, `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n"},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	NodeStrategy{}.PrepareForCreate(old)
	st := old.DeepCopy()
	st.Spec.Taints = nil
	st.Status.Phase = corev1.NodeRunning
	if err := (NodeStrategy{}).PrepareForUpdate(st, old, "status"); err != nil {
		t.Fatal(err)
	}
	if len(st.Spec.Taints) != 1 {
		t.Errorf("a status write changed the taints: %+v", st.Spec.Taints)
	}
	up := old.DeepCopy()
	up.Spec.Taints = append(up.Spec.Taints, corev1.Taint{Key: "k", Effect: corev1.TaintEffectNoSchedule})
	if err := (NodeStrategy{}).PrepareForUpdate(up, old, ""); err != nil {
		t.Fatal(err)
	}
	if errs := (NodeStrategy{}).ValidateUpdate(up, old); !strings.Contains(errText(errs), "taints must be unique by key and effect pair") {
		t.Errorf("duplicate taint on update: errors %v", errs)
	}
}
