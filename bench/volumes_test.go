package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// BenchmarkVolumes measures, in one run on one cluster, what ConfigMap and
// Secret volumes cost a pod start: N pods with two configMap volumes and a
// secret volume (tmpfs) beside N pods without volumes, the baseline, in
// alternating rounds (SKIFF_BENCH_PODS, default 10; SKIFF_BENCH_ROUNDS,
// default 3; SKIFF_BENCH_CONCURRENCY, default all at once). It also
// reports how long a ConfigMap update takes to reach the files of every
// running pod (the agent re-reads objects once per sync period, 1s).
func BenchmarkVolumes(b *testing.B) {
	bin := binDir(b)
	n := envInt(b, "SKIFF_BENCH_PODS", 10)
	conc := min(envInt(b, "SKIFF_BENCH_CONCURRENCY", n), n)
	rounds := envInt(b, "SKIFF_BENCH_ROUNDS", 3)
	testenv.RequireRoot(b)
	socket := testenv.Containerd(b)
	archive, err := testimage.BusyboxArchive(b.TempDir(), benchImage)
	if err != nil {
		b.Fatalf("build bench image: %v", err)
	}
	s, _ := startSkiffd(b, bin, socket)
	s.ctl("image", "load", archive)
	ctx := context.Background()
	for _, obj := range []struct {
		res api.Resource
		obj any
	}{
		{api.ConfigMaps, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "bench-app"},
			Data: map[string]string{"app.properties": strings.Repeat("key=value\n", 100), "version": "1"}}},
		{api.ConfigMaps, &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "bench-nginx"},
			Data: map[string]string{"nginx.conf": strings.Repeat("# nginx\n", 200)}}},
		{api.Secrets, &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "bench-creds"},
			Data: map[string][]byte{"user": []byte("admin"), "password": []byte("s3cr3t"), "tls.key": make([]byte, 2048)}}},
	} {
		if err := s.client.Create(ctx, obj.res, podNamespace, obj.obj); err != nil {
			b.Fatal(err)
		}
	}
	w := watchPods(b, s.client)
	for _, withVolumes := range []bool{false, true} {
		if _, err := w.startVolumePod("warmup-"+fmt.Sprint(withVolumes), withVolumes); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.deleteBenchPods(podTimeout); err != nil {
		b.Fatal(err)
	}

	var plain, volumes []time.Duration
	var update []time.Duration
	for round := range rounds {
		run := func(withVolumes bool) []time.Duration {
			lat, err := measure(n, conc, func(i int) (time.Duration, error) {
				return w.startVolumePod(fmt.Sprintf("vol-%v-%d-%03d", withVolumes, round, i), withVolumes)
			})
			if err != nil {
				b.Fatal(err)
			}
			return lat
		}
		var p, v []time.Duration
		if round%2 == 0 {
			p, v = run(false), run(true)
		} else {
			v, p = run(true), run(false)
		}
		plain, volumes = append(plain, p...), append(volumes, v...)
		d, err := configMapUpdate(s, round)
		if err != nil {
			b.Fatal(err)
		}
		update = append(update, d)
		if err := s.deleteBenchPods(podTimeout); err != nil {
			b.Fatal(err)
		}
	}

	p50, v50 := percentile(plain, 50), percentile(volumes, 50)
	fmt.Printf(`
pod start with 3 configMap/secret volumes, %d pods x %d rounds, %d in flight
                              p50        p99
  baseline (no volumes)   %9s  %9s
  3 volumes               %9s  %9s
  ratio p50               %9.2f
  extra per pod (p50)     %9s
configMap update reaching the files of %d running pods (agent sync period 1s):
  p50 %s, max %s over %d updates
`, n, rounds, conc, ms(p50), ms(percentile(plain, 99)), ms(v50), ms(percentile(volumes, 99)),
		ratio(v50, p50), ms(v50-p50), n, ms(percentile(update, 50)), ms(percentile(update, 100)), len(update))
	b.ReportMetric(msf(p50), "baseline-p50-ms")
	b.ReportMetric(msf(v50), "volumes-p50-ms")
	b.ReportMetric(ratio(v50, p50), "volumes/baseline-p50")
	b.ReportMetric(msf(percentile(update, 50)), "update-p50-ms")
}

// volumePod is benchPod, with two configMap volumes and a secret volume
// mounted when withVolumes.
func volumePod(name string, withVolumes bool) *corev1.Pod {
	pod := benchPod(name)
	if !withVolumes {
		return pod
	}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "app", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "bench-app"}}}},
		{Name: "nginx", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "bench-nginx"},
			Items: []corev1.KeyToPath{{Key: "nginx.conf", Path: "conf/nginx.conf"}}}}},
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "bench-creds"}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "app", MountPath: "/etc/app"}, {Name: "nginx", MountPath: "/etc/nginx"}, {Name: "creds", MountPath: "/etc/creds"},
	}
	return pod
}

// startVolumePod is podWatcher.start for volumePod: the time from Create
// returning to the watch reporting the pod Running.
func (w *podWatcher) startVolumePod(name string, withVolumes bool) (time.Duration, error) {
	pw := &podWait{done: make(chan struct{})}
	w.mu.Lock()
	w.waits[name] = pw
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), podTimeout)
	defer cancel()
	if err := w.client.Create(ctx, api.Pods, podNamespace, volumePod(name, withVolumes)); err != nil {
		return 0, fmt.Errorf("create pod %q: %w", name, err)
	}
	created := time.Now()
	select {
	case <-pw.done:
	case <-w.broken:
		return 0, fmt.Errorf("pod %q: watching pods: %w", name, w.err)
	case <-ctx.Done():
		return 0, fmt.Errorf("pod %q not Running after %v: %s", name, podTimeout, w.podState(name))
	}
	if pw.failure != "" {
		return 0, errors.New(pw.failure)
	}
	return max(pw.at.Sub(created), 0), nil
}

// configMapUpdate changes bench-app's version key and returns how long it
// took to reach the volume files of every running pod that mounts it.
func configMapUpdate(s *skiffd, round int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cm corev1.ConfigMap
	if err := s.client.Get(ctx, api.ConfigMaps, podNamespace, "bench-app", &cm); err != nil {
		return 0, err
	}
	want := fmt.Sprintf("round-%d", round)
	cm.Data["version"] = want
	if err := s.client.Update(ctx, api.ConfigMaps, podNamespace, &cm, ""); err != nil {
		return 0, err
	}
	start := time.Now()
	files, err := filepath.Glob(filepath.Join(s.dataDir, "plugins", "volumes", "pods", "*", "volumes", "app", "version"))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("no configMap volume files found under %s (%v)", s.dataDir, err)
	}
	for {
		done := 0
		for _, f := range files {
			if data, err := os.ReadFile(f); err == nil && string(data) == want {
				done++
			}
		}
		if done == len(files) {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("configMap update reached %d of %d pods in a minute", done, len(files))
		case <-time.After(10 * time.Millisecond):
		}
	}
}
