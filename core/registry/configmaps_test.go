package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func errText(errs field.ErrorList) string { return errs.ToAggregate().Error() }

func TestConfigMapDecodeAndValidate(t *testing.T) {
	st := ConfigMapStrategy{}
	// The chapter's redis-config-map.yaml.
	obj, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"redis-config","namespace":"default"},"data":{"host":"redis","port":"6379"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := st.Validate(obj); len(errs) > 0 {
		t.Fatalf("valid configmap refused: %v", errs)
	}
	if _, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"dataa":{}}`)); err == nil || !strings.Contains(err.Error(), `unknown field "dataa"`) {
		t.Errorf("unknown field: %v", err)
	}
	for name, tc := range map[string]struct {
		cm   corev1.ConfigMap
		want string
	}{
		"bad key":      {corev1.ConfigMap{Data: map[string]string{"a/b": "x"}}, `data[a/b]`},
		"dotdot key":   {corev1.ConfigMap{Data: map[string]string{"..": "x"}}, `data[..]`},
		"dup binary":   {corev1.ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {1}}}, "duplicate of key"},
		"too big":      {corev1.ConfigMap{Data: map[string]string{"a": strings.Repeat("x", MaxDataBytes), "b": "y"}}, "data: Too long"},
		"binary large": {corev1.ConfigMap{BinaryData: map[string][]byte{"a": make([]byte, MaxDataBytes+1)}}, "data: Too long"},
	} {
		tc.cm.Name, tc.cm.Namespace = "c", "default"
		errs := st.Validate(&tc.cm)
		if len(errs) == 0 || !strings.Contains(errText(errs), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
	}
}

func TestConfigMapImmutable(t *testing.T) {
	st := ConfigMapStrategy{}
	yes := true
	old := &corev1.ConfigMap{Data: map[string]string{"a": "1"}, Immutable: &yes}
	old.Name, old.Namespace = "c", "default"
	same := old.DeepCopy()
	if errs := st.ValidateUpdate(same, old); len(errs) > 0 {
		t.Fatalf("unchanged immutable configmap refused: %v", errs)
	}
	changed := old.DeepCopy()
	changed.Data["a"] = "2"
	if errs := st.ValidateUpdate(changed, old); !strings.Contains(errText(errs), "immutable") {
		t.Fatalf("change of an immutable configmap: %v", errs)
	}
}

func TestSecretStringDataAndType(t *testing.T) {
	st := SecretStrategy{}
	// The chapter's redis-secret.yaml, plus stringData.
	obj, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"redis-secret","namespace":"default"},
		"data":{"redis-secret":"U0VUIHNlY3JldCBmb29iYXIK","both":"b2xk"},"stringData":{"both":"new","plain":"p"}}`))
	if err != nil {
		t.Fatal(err)
	}
	st.PrepareForCreate(obj)
	s := obj.(*corev1.Secret)
	if errs := st.Validate(s); len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.Type != corev1.SecretTypeOpaque || s.StringData != nil {
		t.Fatalf("type %q, stringData %v: want Opaque and stringData merged away", s.Type, s.StringData)
	}
	for k, want := range map[string]string{"redis-secret": "SET secret foobar\n", "both": "new", "plain": "p"} {
		if got := string(s.Data[k]); got != want {
			t.Errorf("data[%s] = %q, want %q", k, got, want)
		}
	}
	if _, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"data":{"k":"not base64!"}}`)); err == nil {
		t.Error("invalid base64 accepted")
	}

	tls := &corev1.Secret{Type: corev1.SecretTypeTLS}
	tls.Name, tls.Namespace = "t", "default"
	if errs := st.Validate(tls); !strings.Contains(errText(errs), `type: Unsupported value: "kubernetes.io/tls": not supported by skiff`) {
		t.Fatalf("tls secret: %v", errs)
	}

	// Update: stringData merges again, type may not change.
	upd := s.DeepCopy()
	upd.StringData = map[string]string{"plain": "q"}
	upd.Type = ""
	if err := st.PrepareForUpdate(upd, s, ""); err != nil {
		t.Fatal(err)
	}
	if errs := st.ValidateUpdate(upd, s); len(errs) > 0 || string(upd.Data["plain"]) != "q" || upd.Type != corev1.SecretTypeOpaque {
		t.Fatalf("update: %v, data %q, type %q", errs, upd.Data["plain"], upd.Type)
	}
}

func validPodWith(t *testing.T, volumes, container string) field.ErrorList {
	t.Helper()
	doc := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"volumes":[` + volumes +
		`],"containers":[{"name":"c","image":"busybox:1.28"` + container + `}]}}`
	obj, err := PodStrategy{}.Decode([]byte(doc))
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, doc)
	}
	PodStrategy{}.PrepareForCreate(obj)
	return PodStrategy{}.Validate(obj)
}

func TestPodConfigSourcesAccepted(t *testing.T) {
	// The chapter's ambassador and sidecar shapes.
	vols := `{"name":"nginx-volume","emptyDir":{}},
		{"name":"config","configMap":{"name":"nginx-config","items":[{"key":"nginx.conf","path":"nginx.conf"}]}},
		{"name":"secret","secret":{"secretName":"redis-secret","items":[{"key":"redis-secret","path":"init.redis","mode":256}],"defaultMode":420,"optional":true}},
		{"name":"host","hostPath":{"path":"/var/log","type":"Directory"}}`
	ctr := `,"env":[{"name":"REDIS_HOST","valueFrom":{"configMapKeyRef":{"name":"redis-config","key":"host"}}},
		{"name":"PW","valueFrom":{"secretKeyRef":{"name":"redis-secret","key":"redis-secret","optional":true}}}],
		"envFrom":[{"prefix":"CFG_","configMapRef":{"name":"redis-config"}},{"secretRef":{"name":"redis-secret","optional":false}}],
		"volumeMounts":[{"name":"nginx-volume","mountPath":"/etc/nginx"},{"name":"config","mountPath":"/config/nginx.conf","subPath":"nginx.conf","readOnly":true}]`
	if errs := validPodWith(t, vols, ctr); len(errs) > 0 {
		t.Fatalf("refused: %v", errs)
	}
}

func TestPodConfigSourcesRefused(t *testing.T) {
	for name, tc := range map[string]struct{ vols, ctr, want string }{
		"no source":       {`{"name":"v"}`, ``, "a volume source is required"},
		"two sources":     {`{"name":"v","emptyDir":{},"configMap":{"name":"x"}}`, ``, "may not specify more than 1 volume type"},
		"absolute item":   {`{"name":"v","configMap":{"name":"x","items":[{"key":"k","path":"/etc/passwd"}]}}`, ``, "spec.volumes[0].configMap.items[0].path: Invalid value: \"/etc/passwd\": must be a relative path"},
		"dotdot item":     {`{"name":"v","secret":{"secretName":"x","items":[{"key":"k","path":"a/../../b"}]}}`, ``, "must not contain '..'"},
		"reserved item":   {`{"name":"v","configMap":{"name":"x","items":[{"key":"k","path":"..data"}]}}`, ``, "must not start with '..'"},
		"dup item path":   {`{"name":"v","configMap":{"name":"x","items":[{"key":"a","path":"p"},{"key":"b","path":"./p"}]}}`, ``, "Duplicate value"},
		"bad item key":    {`{"name":"v","configMap":{"name":"x","items":[{"key":"a/b","path":"p"}]}}`, ``, "items[0].key"},
		"bad mode":        {`{"name":"v","configMap":{"name":"x","defaultMode":4096}}`, ``, "defaultMode"},
		"no name":         {`{"name":"v","secret":{}}`, ``, "secretName: Required"},
		"relative host":   {`{"name":"v","hostPath":{"path":"var/log"}}`, ``, "must be an absolute path"},
		"host backsteps":  {`{"name":"v","hostPath":{"path":"/var/../etc"}}`, ``, "must not contain '..'"},
		"host type":       {`{"name":"v","hostPath":{"path":"/x","type":"Pipe"}}`, ``, "hostPath.type: Unsupported value"},
		"abs subPath":     {`{"name":"v","emptyDir":{}}`, `,"volumeMounts":[{"name":"v","mountPath":"/m","subPath":"/etc"}]`, "subPath: Invalid value: \"/etc\": must be a relative path"},
		"dotdot subPath":  {`{"name":"v","emptyDir":{}}`, `,"volumeMounts":[{"name":"v","mountPath":"/m","subPath":"a/../../etc"}]`, "subPath: Invalid value: \"a/../../etc\": must not contain '..'"},
		"value and from":  {`{"name":"v","emptyDir":{}}`, `,"env":[{"name":"A","value":"x","valueFrom":{"configMapKeyRef":{"name":"c","key":"k"}}}]`, "may not be specified when `value` is not empty"},
		"two refs":        {`{"name":"v","emptyDir":{}}`, `,"env":[{"name":"A","valueFrom":{"configMapKeyRef":{"name":"c","key":"k"},"secretKeyRef":{"name":"c","key":"k"}}}]`, "more than one field"},
		"no key":          {`{"name":"v","emptyDir":{}}`, `,"env":[{"name":"A","valueFrom":{"secretKeyRef":{"name":"c"}}}]`, "secretKeyRef.key: Required"},
		"empty valueFrom": {`{"name":"v","emptyDir":{}}`, `,"env":[{"name":"A","valueFrom":{}}]`, "must specify one of"},
		"envFrom none":    {`{"name":"v","emptyDir":{}}`, `,"envFrom":[{"prefix":"X"}]`, "must specify one of"},
		"envFrom prefix":  {`{"name":"v","emptyDir":{}}`, `,"envFrom":[{"prefix":"1=","configMapRef":{"name":"c"}}]`, "envFrom[0].prefix"},
	} {
		errs := validPodWith(t, tc.vols, tc.ctr)
		if len(errs) == 0 || !strings.Contains(errText(errs), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
	}
}

func TestPodUnsupportedEnvSourcesRefused(t *testing.T) {
	doc := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i",
		"env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}}`
	if _, err := (PodStrategy{}).Decode([]byte(doc)); err == nil || !strings.Contains(err.Error(), "spec.containers[0].env[0].valueFrom.fieldRef: not supported by skiff") {
		t.Fatalf("fieldRef: %v", err)
	}
}
