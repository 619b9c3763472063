package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func decodePod(t *testing.T, doc string) (*corev1.Pod, error) {
	t.Helper()
	obj, err := PodStrategy{}.Decode([]byte(doc))
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

func TestPodDecodeRefusesUnknownAndUnsupportedFields(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"unknown nested field", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i","colour":"blue"}]}}`, `unknown field "spec.containers[0].colour"`},
		{"unknown top-level field", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spek":{}}`, `unknown field "spek"`},
		{"duplicate field", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"},"spec":{}}`, `duplicate field "metadata.name"`},
		{"unsupported affinity", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"affinity":{},"containers":[{"name":"c","image":"i"}]}}`, "spec.affinity: not supported by skiff"},
		{"unsupported lifecycle hook", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"c","image":"i","lifecycle":{"preStop":{"exec":{"command":["x"]}}}}]}}`, "spec.containers[0].lifecycle: not supported by skiff"},
		{"probe on an init container", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"initContainers":[{"name":"i","image":"i","readinessProbe":{"tcpSocket":{"port":80}}}],"containers":[{"name":"c","image":"i"}]}}`, "spec.initContainers[0].readinessProbe: not supported by skiff"},
		{"unsupported volume source", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"volumes":[{"name":"v","nfs":{"server":"s","path":"/"}}],"containers":[{"name":"c","image":"i"}]}}`, "spec.volumes[0].nfs: not supported by skiff"},
		{"wrong kind", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"a"}}`, `kind "Node": expected "Pod"`},
		{"wrong version", `{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"a"}}`, `apiVersion "apps/v1"`},
		{"malformed", `{"apiVersion":"v1",`, "decode Pod"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodePod(t, tc.doc)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPodDecodeAcceptsKubectlOutput(t *testing.T) {
	// What `kubectl run nginx --image=nginx --dry-run=client -o yaml` prints.
	doc := `{"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":null,"labels":{"run":"nginx"},"name":"nginx"},
	"spec":{"containers":[{"image":"nginx","name":"nginx","resources":{}}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always"},"status":{}}`
	if _, err := decodePod(t, doc); err != nil {
		t.Fatal(err)
	}
}

func TestPodDecodeRefusesHugeObjects(t *testing.T) {
	big := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","annotations":{"x":"` + strings.Repeat("a", MaxObjectBytes) + `"}}}`
	if _, err := decodePod(t, big); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestPodDefaults(t *testing.T) {
	pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[
		{"name":"latest","image":"nginx"},{"name":"tagged","image":"nginx:1.25","resources":{"limits":{"memory":"64Mi"}}},
		{"name":"digest","image":"nginx@sha256:abc"},{"name":"port","image":"r.io:5000/x/nginx"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	PodStrategy{}.PrepareForCreate(pod)
	wantPolicy := []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullIfNotPresent, corev1.PullAlways}
	for i, c := range pod.Spec.Containers {
		if c.ImagePullPolicy != wantPolicy[i] {
			t.Errorf("container %s: pull policy %s, want %s", c.Name, c.ImagePullPolicy, wantPolicy[i])
		}
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways || *pod.Spec.TerminationGracePeriodSeconds != 30 {
		t.Errorf("restartPolicy %s grace %d", pod.Spec.RestartPolicy, *pod.Spec.TerminationGracePeriodSeconds)
	}
	if got := pod.Spec.Containers[1].Resources.Requests.Memory().String(); got != "64Mi" {
		t.Errorf("memory request defaulted from limit = %s, want 64Mi", got)
	}
	if pod.Status.Phase != corev1.PodPending {
		t.Errorf("phase %s", pod.Status.Phase)
	}
}

func TestPodValidation(t *testing.T) {
	cases := []struct{ name, spec, want string }{
		{"no containers", `{"containers":[]}`, "spec.containers: Required value"},
		{"bad container name", `{"containers":[{"name":"Web_1","image":"i"}]}`, `spec.containers[0].name: Invalid value: "Web_1"`},
		{"duplicate container", `{"containers":[{"name":"a","image":"i"},{"name":"a","image":"i"}]}`, `spec.containers[1].name: Duplicate value: "a"`},
		{"bad restart policy", `{"restartPolicy":"Sometimes","containers":[{"name":"a","image":"i"}]}`, `spec.restartPolicy: Unsupported value: "Sometimes"`},
		{"request above limit", `{"containers":[{"name":"a","image":"i","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}]}`, "must be less than or equal to cpu limit"},
		{"bad port", `{"containers":[{"name":"a","image":"i","ports":[{"containerPort":70000}]}]}`, "spec.containers[0].ports[0].containerPort: Invalid value: 70000"},
		{"bad env name", `{"containers":[{"name":"a","image":"i","env":[{"name":"1X","value":"v"}]}]}`, `spec.containers[0].env[0].name: Invalid value: "1X"`},
		{"mount of unknown volume", `{"containers":[{"name":"a","image":"i","volumeMounts":[{"name":"nope","mountPath":"/x"}]}]}`, `spec.containers[0].volumeMounts[0].name: Not found: "nope"`},
		{"unsupported resource", `{"containers":[{"name":"a","image":"i","resources":{"limits":{"nvidia.com/gpu":"1"}}}]}`, `spec.containers[0].resources.limits: Unsupported value: "nvidia.com/gpu"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":`+tc.spec+`}`)
			if err != nil {
				t.Fatal(err)
			}
			PodStrategy{}.PrepareForCreate(pod)
			errs := PodStrategy{}.Validate(pod)
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors = %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestPodUpdateAllowsOnlyImages(t *testing.T) {
	old, _ := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"a","image":"i:1"}]}}`)
	PodStrategy{}.PrepareForCreate(old)
	img := old.DeepCopy()
	img.Spec.Containers[0].Image = "i:2"
	if err := (PodStrategy{}).PrepareForUpdate(img, old, ""); err != nil {
		t.Fatal(err)
	}
	if errs := (PodStrategy{}).ValidateUpdate(img, old); len(errs) > 0 {
		t.Errorf("image change refused: %v", errs)
	}
	cmd := old.DeepCopy()
	cmd.Spec.Containers[0].Command = []string{"sh"}
	_ = PodStrategy{}.PrepareForUpdate(cmd, old, "")
	if errs := (PodStrategy{}).ValidateUpdate(cmd, old); len(errs) == 0 {
		t.Error("command change accepted")
	}
}

func TestBindingOnlyOnce(t *testing.T) {
	old, _ := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"a","image":"i:1"}]}}`)
	b := old.DeepCopy()
	b.Spec.NodeName = "n1"
	b.Spec.Containers[0].Image = "sneaky"
	if err := (PodStrategy{}).PrepareForUpdate(b, old, "binding"); err != nil {
		t.Fatal(err)
	}
	if b.Spec.NodeName != "n1" || b.Spec.Containers[0].Image != "i:1" {
		t.Errorf("binding changed more than the node: %+v", b.Spec)
	}
	again := b.DeepCopy()
	again.Spec.NodeName = "n2"
	if err := (PodStrategy{}).PrepareForUpdate(again, b, "binding"); err == nil {
		t.Error("a bound pod was bound again")
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx": corev1.PullAlways, "nginx:latest": corev1.PullAlways, "nginx:1.25": corev1.PullIfNotPresent,
		"localhost:5000/nginx": corev1.PullAlways, "localhost:5000/nginx:2": corev1.PullIfNotPresent,
	} {
		if got := DefaultPullPolicy(image); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
}

func TestSecurityContextIsAcceptedAndValidated(t *testing.T) {
	pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
		"securityContext":{"runAsUser":1000,"runAsNonRoot":true},
		"containers":[{"name":"a","image":"i:1","securityContext":{"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,
		"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]}}}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	PodStrategy{}.PrepareForCreate(pod)
	if errs := (PodStrategy{}).Validate(pod); len(errs) > 0 {
		t.Fatalf("valid securityContext refused: %v", errs)
	}
	bad, _ := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{
		"containers":[{"name":"a","image":"i:1","securityContext":{"privileged":true,"allowPrivilegeEscalation":false,"capabilities":{"add":["net admin"]}}}]}}`)
	PodStrategy{}.PrepareForCreate(bad)
	msg := (PodStrategy{}).Validate(bad).ToAggregate().Error()
	for _, want := range []string{"cannot set `allowPrivilegeEscalation` to false and `privileged` to true", "spec.containers[0].securityContext.capabilities.add[0]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("validation %q lacks %q", msg, want)
		}
	}
	if _, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"i","securityContext":{"seccompProfile":{"type":"RuntimeDefault"}}}]}}`); err == nil || !strings.Contains(err.Error(), "spec.containers[0].securityContext.seccompProfile: not supported by skiff") {
		t.Errorf("seccompProfile: %v", err)
	}
}

func TestProbeValidation(t *testing.T) {
	cases := []struct{ name, probe, want string }{
		{"no handler", `{"periodSeconds":5}`, "must specify a handler type"},
		{"two handlers", `{"exec":{"command":["true"]},"tcpSocket":{"port":80}}`, "may not specify more than 1 handler type"},
		{"bad port", `{"tcpSocket":{"port":0}}`, "tcpSocket.port"},
		{"unknown named port", `{"httpGet":{"port":"web"}}`, "httpGet.port"},
		{"liveness success threshold", `{"exec":{"command":["true"]},"successThreshold":2}`, "successThreshold: Invalid value: 2: must be 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"a","image":"i","livenessProbe":`+tc.probe+`}]}}`)
			if err != nil {
				t.Fatal(err)
			}
			PodStrategy{}.PrepareForCreate(pod)
			if msg := (PodStrategy{}).Validate(pod).ToAggregate(); msg == nil || !strings.Contains(msg.Error(), tc.want) {
				t.Fatalf("errors = %v, want %q", msg, tc.want)
			}
		})
	}
	ok, err := decodePod(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"a","image":"i",
		"ports":[{"name":"web","containerPort":80}],
		"readinessProbe":{"httpGet":{"path":"/","port":"web"},"initialDelaySeconds":5,"periodSeconds":5},
		"livenessProbe":{"httpGet":{"path":"/","port":80}},"startupProbe":{"exec":{"command":["true"]},"failureThreshold":30}}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	PodStrategy{}.PrepareForCreate(ok)
	if errs := (PodStrategy{}).Validate(ok); len(errs) > 0 {
		t.Fatalf("the chapter's kind of probes refused: %v", errs)
	}
	if p := ok.Spec.Containers[0].LivenessProbe; p.PeriodSeconds != 10 || p.TimeoutSeconds != 1 || p.FailureThreshold != 3 || p.SuccessThreshold != 1 || p.HTTPGet.Scheme != "HTTP" {
		t.Errorf("probe defaults not applied: %+v", p)
	}
}
