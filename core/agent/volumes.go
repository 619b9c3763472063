package agent

// Volumes and environment from ConfigMaps and Secrets.
//
// The agent reads ConfigMaps and Secrets from the API (it is an API client
// like any other) and hands their data to the volumes plugin, which writes
// the files; the plugin never talks to the API. The agent watches each
// object a pod uses (configwatch.go) and syncs the pod when one changes;
// every sync reads the objects from those watches and calls Prepare, so an
// update reaches the files at once, and at the latest at the next periodic
// sync (SyncFrequency). Prepare of unchanged data costs the plugin a
// readlink.
//
// When an object cannot be read (deleted, a key gone, the API server
// unreachable), a pod that already runs keeps its last good files
// (volumes.Files.Keep) and gets a FailedMount event; a pod that has not
// started waits, as in Kubernetes, with the event naming the object.
//
// Environment variables (env[].valueFrom, envFrom) are read when a
// container is created; a missing object or key is the container's
// CreateContainerConfigError, in the kubelet's words, unless the
// reference is optional.
//
// subPath mounts are resolved by the plugin (PrepareSubPath) when the
// container is created, so that they see what init containers wrote, and
// they stay inside their volume whatever symlinks the volume holds.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/sdk/runtime"
	"github.com/skiffhq/skiff/sdk/volumes"
)

// configTimeout bounds the API reads and plugin calls made while building
// a container's config.
const configTimeout = 30 * time.Second

// objectCache reads each ConfigMap and Secret of one pod's namespace at
// most once per pod sync, from the agent's watches (configwatch.go).
type objectCache struct {
	a          *Agent
	ns         string
	pod        types.UID
	configMaps map[string]cached[corev1.ConfigMap]
	secrets    map[string]cached[corev1.Secret]
}

type cached[T any] struct {
	obj *T
	err error
}

func (a *Agent) newObjectCache(pod *corev1.Pod) *objectCache {
	return &objectCache{a: a, ns: pod.Namespace, pod: pod.UID, configMaps: map[string]cached[corev1.ConfigMap]{}, secrets: map[string]cached[corev1.Secret]{}}
}

// configMap reads a ConfigMap; a missing one is an error that says
// `configmap "x" not found`, as the kubelet's.
func (c *objectCache) configMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	if got, ok := c.configMaps[name]; ok {
		return got.obj, got.err
	}
	var cm corev1.ConfigMap
	err := c.a.configs.get(ctx, api.ConfigMaps, c.ns, name, c.pod, &cm)
	if apierrors.IsNotFound(err) {
		err = apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
	}
	got := cached[corev1.ConfigMap]{obj: &cm, err: err}
	if err != nil {
		got.obj = nil
	}
	c.configMaps[name] = got
	return got.obj, got.err
}

func (c *objectCache) secret(ctx context.Context, name string) (*corev1.Secret, error) {
	if got, ok := c.secrets[name]; ok {
		return got.obj, got.err
	}
	var s corev1.Secret
	err := c.a.configs.get(ctx, api.Secrets, c.ns, name, c.pod, &s)
	if apierrors.IsNotFound(err) {
		err = apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
	}
	got := cached[corev1.Secret]{obj: &s, err: err}
	if err != nil {
		got.obj = nil
	}
	c.secrets[name] = got
	return got.obj, got.err
}

// volumeProblem is a volume the agent could not resolve this sync.
type volumeProblem struct {
	volume string
	err    error
	// keepable problems let a volume written earlier keep its content.
	keepable bool
}

// resolveVolumes turns the pod's volumes into the plugin's, reading the
// ConfigMaps and Secrets they name. Volumes it cannot resolve are listed
// in problems; those that may keep earlier content are sent with Keep.
func (a *Agent) resolveVolumes(ctx context.Context, pod *corev1.Pod) (volumes.Pod, []volumeProblem) {
	vp := volumes.Pod{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID)}
	objs := a.newObjectCache(pod)
	var problems []volumeProblem
	for _, v := range pod.Spec.Volumes {
		vol := volumes.Volume{Name: v.Name}
		switch {
		case v.EmptyDir != nil:
			vol.EmptyDir = &volumes.EmptyDir{Medium: string(v.EmptyDir.Medium)}
			if v.EmptyDir.SizeLimit != nil {
				vol.EmptyDir.SizeLimitBytes = v.EmptyDir.SizeLimit.Value()
			}
		case v.ConfigMap != nil:
			f, err := configMapFiles(ctx, objs, v.ConfigMap)
			if err != nil {
				problems = append(problems, volumeProblem{volume: v.Name, err: err, keepable: true})
				f = &volumes.Files{Keep: true}
			}
			vol.Files = f
		case v.Secret != nil:
			f, err := secretFiles(ctx, objs, v.Secret)
			if err != nil {
				problems = append(problems, volumeProblem{volume: v.Name, err: err, keepable: true})
				f = &volumes.Files{Keep: true}
			}
			f.Sensitive = true
			vol.Files = f
		case v.HostPath != nil:
			if !a.cfg.AllowHostPath {
				problems = append(problems, volumeProblem{volume: v.Name,
					err: fmt.Errorf("hostPath volumes are not allowed on node %q (its agent runs without --allow-host-path)", a.cfg.NodeName)})
				continue
			}
			vol.HostPath = &volumes.HostPath{Path: v.HostPath.Path}
			if v.HostPath.Type != nil {
				vol.HostPath.Type = string(*v.HostPath.Type)
			}
		default:
			problems = append(problems, volumeProblem{volume: v.Name, err: errors.New("no volume source skiff supports")})
			continue
		}
		vp.Volumes = append(vp.Volumes, vol)
	}
	return vp, problems
}

func configMapFiles(ctx context.Context, objs *objectCache, src *corev1.ConfigMapVolumeSource) (*volumes.Files, error) {
	optional := src.Optional != nil && *src.Optional
	cm, err := objs.configMap(ctx, src.Name)
	if apierrors.IsNotFound(err) && optional {
		return &volumes.Files{Data: map[string][]byte{}}, nil // an empty volume, as in Kubernetes
	}
	if err != nil {
		return nil, err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return projectFiles(data, src.Items, src.DefaultMode, optional, "configmap references non-existent config key")
}

func secretFiles(ctx context.Context, objs *objectCache, src *corev1.SecretVolumeSource) (*volumes.Files, error) {
	optional := src.Optional != nil && *src.Optional
	s, err := objs.secret(ctx, src.SecretName)
	if apierrors.IsNotFound(err) && optional {
		return &volumes.Files{Data: map[string][]byte{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return projectFiles(s.Data, src.Items, src.DefaultMode, optional, "references non-existent secret key")
}

// projectFiles selects the items of data (all keys without items). A key
// an item names must exist unless the volume is optional; only the keys
// used are handed to the plugin.
func projectFiles(data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, missing string) (*volumes.Files, error) {
	f := &volumes.Files{Data: data}
	if defaultMode != nil {
		f.DefaultMode = os.FileMode(*defaultMode)
	}
	if len(items) == 0 {
		return f, nil
	}
	f.Data = make(map[string][]byte, len(items))
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s: %s", missing, it.Key)
		}
		f.Data[it.Key] = v
		kp := volumes.KeyToPath{Key: it.Key, Path: it.Path}
		if it.Mode != nil {
			kp.Mode = os.FileMode(*it.Mode)
		}
		f.Items = append(f.Items, kp)
	}
	return f, nil
}

// neverStarted reports whether the agent has not yet posted a status with
// containers for the pod.
func neverStarted(pod *corev1.Pod) bool {
	return len(pod.Status.ContainerStatuses) == 0 && len(pod.Status.InitContainerStatuses) == 0
}

// failedMount is the kubelet's event text for a volume that cannot be set
// up.
func failedMount(volume string, err error) string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", volume, err)
}

// isConfigVolume reports whether the pod's volume name is a configMap or
// secret volume: those are always mounted read-only, as in Kubernetes.
func isConfigVolume(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return v.ConfigMap != nil || v.Secret != nil
		}
	}
	return false
}

// containerMounts binds the container's volumeMounts: the volume's host
// path, or for a subPath the plugin's bind of what it resolved to.
func (a *Agent) containerMounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, mounts map[string]string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for i, m := range c.VolumeMounts {
		host, ok := mounts[m.Name]
		if !ok {
			return nil, fmt.Errorf("container %q: volume %q is not prepared", c.Name, m.Name)
		}
		if m.SubPath != "" {
			vols, err := a.volumes()
			if err != nil {
				return nil, err
			}
			host, err = vols.PrepareSubPath(ctx, volumes.SubPath{PodUID: string(pod.UID), Volume: m.Name, HostPath: host,
				Path: m.SubPath, Container: c.Name, Index: i})
			if err != nil {
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", m.Name, c.Name, err)
			}
		}
		out = append(out, runtime.Mount{HostPath: host, ContainerPath: m.MountPath, ReadOnly: m.ReadOnly || isConfigVolume(pod, m.Name)})
	}
	return out, nil
}

// containerEnv is the container's environment: envFrom first, then env,
// a later name replacing an earlier one, as the kubelet builds it.
func (a *Agent) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container) ([]string, error) {
	var names []string
	values := map[string]string{}
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			names = append(names, k)
		}
		values[k] = v
	}
	objs := a.newObjectCache(pod)
	for _, ef := range c.EnvFrom {
		var data map[string]string
		var kind, name string
		switch {
		case ef.ConfigMapRef != nil:
			kind, name = "configMap", ef.ConfigMapRef.Name
			cm, err := objs.configMap(ctx, name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case ef.SecretRef != nil:
			kind, name = "secret", ef.SecretRef.Name
			s, err := objs.secret(ctx, name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(ef.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			data = make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var invalid []string
		for _, k := range keys {
			if len(validation.IsEnvVarName(ef.Prefix+k)) > 0 {
				invalid = append(invalid, ef.Prefix+k)
				continue
			}
			set(ef.Prefix+k, data[k])
		}
		if len(invalid) > 0 {
			_ = a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "InvalidEnvironmentVariableNames",
				"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
				strings.Join(invalid, ", "), kind, pod.Namespace, name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, e.Value)
			continue
		}
		v, ok, err := envValueFrom(ctx, objs, pod.Namespace, e.ValueFrom)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, len(names))
	for i, k := range names {
		out[i] = k + "=" + values[k]
	}
	return out, nil
}

// envValueFrom reads one env[].valueFrom. ok is false when an optional
// reference is missing: the variable is then not set.
func envValueFrom(ctx context.Context, objs *objectCache, ns string, src *corev1.EnvVarSource) (value string, ok bool, err error) {
	switch {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := objs.configMap(ctx, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, found := cm.Data[ref.Key]; found {
			return v, true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := objs.secret(ctx, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, err
		}
		if v, found := s.Data[ref.Key]; found {
			return string(v), true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	}
	return "", false, errors.New("valueFrom: skiff supports configMapKeyRef and secretKeyRef")
}

func isTrue(b *bool) bool { return b != nil && *b }

// mountVolumes is prepareVolumes: it resolves the pod's volumes, has the
// plugin make them, and returns the host path of each by name.
func (w *podWorker) mountVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	if len(pod.Spec.Volumes) == 0 {
		return nil, nil
	}
	vp, problems := w.a.resolveVolumes(ctx, pod)
	var errs []error
	for _, p := range problems {
		if !p.keepable {
			errs = append(errs, fmt.Errorf("volume %q: %w", p.volume, p.err))
		}
	}
	var mounted []volumes.Mounted
	var prepErr error
	if len(errs) == 0 {
		vols, err := w.a.volumes()
		if err != nil {
			return nil, err
		}
		mounted, prepErr = vols.Prepare(ctx, vp)
	}
	// Problems are reported on every sync until they are solved, as the
	// kubelet does; the recorder folds repeats into one event.
	for _, p := range problems {
		_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "FailedMount", "%s", failedMount(p.volume, p.err))
	}
	if prepErr != nil {
		if len(problems) == 0 {
			_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", prepErr)
			errs = append(errs, prepErr)
		}
		// A volume that had to keep its content had none yet: the
		// problem is what to report.
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("volume %q: %w", p.volume, p.err))
		}
	}
	if len(errs) > 0 {
		if neverStarted(pod) {
			// Show the containers as waiting (ContainerCreating, Init:0/N)
			// rather than no status at all.
			_ = w.postStatus(ctx, pod, nil)
		}
		return nil, fmt.Errorf("pod %q in %q: prepare volumes: %w", pod.Name, pod.Namespace, errors.Join(errs...))
	}
	out := make(map[string]string, len(mounted))
	for _, m := range mounted {
		out[m.Name] = m.HostPath
	}
	return out, nil
}
