package agent

import (
	"context"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/sdk/volumes"
)

func ptr[T any](v T) *T { return &v }

// configAgent is an agent on a real API server holding one ConfigMap and
// one Secret in "default".
func configAgent(t *testing.T, allowHostPath bool) *Agent {
	t.Helper()
	srv := testapi.Start(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "redis-config"},
		Data: map[string]string{"host": "redis", "port": "6379", "bad-name": "x"}, BinaryData: map[string][]byte{"bin": {0, 1}}}
	if err := srv.Admin.Create(ctx, api.ConfigMaps, "default", cm); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "redis-secret"},
		Data: map[string][]byte{"redis-secret": []byte("SET secret foobar\n"), "PASSWORD": []byte("hunter2"), "9lives": []byte("x")}}
	if err := srv.Admin.Create(ctx, api.Secrets, "default", s); err != nil {
		t.Fatal(err)
	}
	return New(Config{NodeName: "n1", NodeIP: "127.0.0.1", Client: srv.Admin, AllowHostPath: allowHostPath})
}

func podWith(vols []corev1.Volume, c corev1.Container) *corev1.Pod {
	c.Name, c.Image = "app", "busybox"
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{Volumes: vols, Containers: []corev1.Container{c}}}
}

func TestResolveVolumes(t *testing.T) {
	a := configAgent(t, false)
	ctx := context.Background()
	pod := podWith([]corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"},
			Items:                []corev1.KeyToPath{{Key: "host", Path: "conf/host", Mode: ptr(int32(0o600))}}, DefaultMode: ptr(int32(0o640))}}},
		{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"}}}},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "redis-secret",
			Items: []corev1.KeyToPath{{Key: "redis-secret", Path: "init.redis"}}}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "missing", Optional: ptr(true)}}},
		{Name: "optkey", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"},
			Items: []corev1.KeyToPath{{Key: "nope", Path: "nope"}}, Optional: ptr(true)}}},
	}, corev1.Container{})
	vp, problems := a.resolveVolumes(ctx, pod)
	if len(problems) > 0 {
		t.Fatalf("problems: %+v", problems)
	}
	want := []volumes.Volume{
		{Name: "scratch", EmptyDir: &volumes.EmptyDir{Medium: "Memory"}},
		{Name: "config", Files: &volumes.Files{Data: map[string][]byte{"host": []byte("redis")},
			Items: []volumes.KeyToPath{{Key: "host", Path: "conf/host", Mode: 0o600}}, DefaultMode: 0o640}},
		{Name: "all", Files: &volumes.Files{Data: map[string][]byte{"host": []byte("redis"), "port": []byte("6379"), "bad-name": []byte("x"), "bin": {0, 1}}}},
		{Name: "secret", Files: &volumes.Files{Data: map[string][]byte{"redis-secret": []byte("SET secret foobar\n")},
			Items: []volumes.KeyToPath{{Key: "redis-secret", Path: "init.redis"}}, Sensitive: true}},
		{Name: "opt", Files: &volumes.Files{Data: map[string][]byte{}, Sensitive: true}},
		{Name: "optkey", Files: &volumes.Files{Data: map[string][]byte{}}},
	}
	if !reflect.DeepEqual(vp.Volumes, want) {
		t.Fatalf("volumes:\n%+v\nwant\n%+v", vp.Volumes, want)
	}
	for i := range want {
		if !reflect.DeepEqual(vp.Volumes[i], want[i]) {
			t.Errorf("volume %d: %+v want %+v", i, vp.Volumes[i].Files, want[i].Files)
		}
	}
}

func TestResolveVolumeProblems(t *testing.T) {
	a := configAgent(t, false)
	pod := podWith([]corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nginx-config"}}}},
		{Name: "key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "redis-secret", Items: []corev1.KeyToPath{{Key: "nope", Path: "p"}}}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
	}, corev1.Container{})
	vp, problems := a.resolveVolumes(context.Background(), pod)
	got := map[string]string{}
	for _, p := range problems {
		got[p.volume] = p.err.Error()
		if p.keepable != (p.volume != "host") {
			t.Errorf("volume %q keepable = %v", p.volume, p.keepable)
		}
	}
	want := map[string]string{
		"cm":   `configmap "nginx-config" not found`,
		"key":  "references non-existent secret key: nope",
		"host": `hostPath volumes are not allowed on node "n1" (its agent runs without --allow-host-path)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems %v\nwant %v", got, want)
	}
	// Unresolved config volumes keep what they had; the refused hostPath
	// is not handed to the plugin at all.
	if len(vp.Volumes) != 2 || !vp.Volumes[0].Files.Keep || !vp.Volumes[1].Files.Keep || !vp.Volumes[1].Files.Sensitive {
		t.Fatalf("volumes %+v", vp.Volumes)
	}

	allowed := configAgent(t, true)
	vp, problems = allowed.resolveVolumes(context.Background(), podWith([]corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: "/var/log", Type: ptr(corev1.HostPathDirectory)}}}}, corev1.Container{}))
	if len(problems) > 0 || !reflect.DeepEqual(vp.Volumes[0].HostPath, &volumes.HostPath{Path: "/var/log", Type: "Directory"}) {
		t.Fatalf("allowed hostPath: %+v, %+v", vp.Volumes, problems)
	}
}

func TestContainerEnv(t *testing.T) {
	a := configAgent(t, false)
	ctx := context.Background()
	pod := podWith(nil, corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-secret"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Optional: ptr(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "PLAIN", Value: "v"},
			{Name: "REDIS_HOST", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"}, Key: "host"}}},
			{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "redis-secret"}, Key: "redis-secret"}}},
			{Name: "OPT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "redis-secret"}, Key: "nope", Optional: ptr(true)}}},
		},
	})
	env, err := a.containerEnv(ctx, pod, &pod.Spec.Containers[0])
	if err != nil {
		t.Fatal(err)
	}
	// envFrom first (keys sorted, invalid names skipped), then env, a later
	// name replacing an earlier one in place.
	want := []string{"CFG_bad-name=x", "CFG_host=redis", "CFG_port=6379", "PASSWORD=SET secret foobar\n", "redis-secret=SET secret foobar\n", "PLAIN=v", "REDIS_HOST=redis"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %q\nwant %q", env, want)
	}
	evs, _, err := client.List[corev1.Event](ctx, a.cfg.Client, api.Events, "default", client.ListOptions{})
	if err != nil || len(evs) != 1 || evs[0].Reason != "InvalidEnvironmentVariableNames" ||
		evs[0].Message != "Keys [9lives] from the EnvFrom secret default/redis-secret were skipped since they are considered invalid environment variable names." {
		t.Fatalf("events %+v, %v", evs, err)
	}

	for name, tc := range map[string]struct {
		src  *corev1.EnvVarSource
		from *corev1.EnvFromSource
		want string
	}{
		"missing configmap": {src: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "k"}},
			want: `configmap "x" not found`},
		"missing key": {src: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-config"}, Key: "k"}},
			want: "couldn't find key k in ConfigMap default/redis-config"},
		"missing secret": {src: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}},
			want: `secret "s" not found`},
		"missing secret key": {src: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis-secret"}, Key: "k"}},
			want: "couldn't find key k in Secret default/redis-secret"},
		"missing envFrom": {from: &corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			want: `secret "s" not found`},
	} {
		c := corev1.Container{Name: "app"}
		if tc.src != nil {
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: tc.src}}
		}
		if tc.from != nil {
			c.EnvFrom = []corev1.EnvFromSource{*tc.from}
		}
		if _, err := a.containerEnv(ctx, pod, &c); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func TestContainerMountsReadOnlyConfig(t *testing.T) {
	a := New(Config{NodeName: "n1"})
	pod := podWith([]corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
	}, corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/s"}, {Name: "config", MountPath: "/c"}}})
	ms, err := a.containerMounts(context.Background(), pod, &pod.Spec.Containers[0], map[string]string{"scratch": "/v/scratch", "config": "/v/config"})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].ReadOnly || !ms[1].ReadOnly || ms[1].HostPath != "/v/config" {
		t.Fatalf("mounts %+v: want the configMap read-only", ms)
	}
	if _, err := a.containerMounts(context.Background(), pod, &pod.Spec.Containers[0], map[string]string{}); err == nil || !strings.Contains(err.Error(), "not prepared") {
		t.Fatalf("unprepared volume: %v", err)
	}
}
