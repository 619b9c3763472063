//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects).

package cmd

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/core/api/apipb"
)

func createdService(t *testing.T, e *env) (*apipb.CreateRequest, corev1.Service) {
	t.Helper()
	var req *apipb.CreateRequest
	for _, r := range e.srv.Requests() {
		if c, ok := r.(*apipb.CreateRequest); ok {
			req = c
		}
	}
	if req == nil {
		t.Fatal("no create request")
	}
	var s corev1.Service
	if err := json.Unmarshal(req.Json, &s); err != nil {
		t.Fatal(err)
	}
	return req, s
}

func TestExposePod(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default", Labels: map[string]string{"run": "redis"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis", Ports: []corev1.ContainerPort{{Name: "db", ContainerPort: 6379}}}}},
	})
	e.run("expose", "pod", "redis", "--port", "6379").expectOut(t, "service/redis exposed\n")
	req, svc := createdService(t, e)
	if req.Resource != "services" || svc.Name != "redis" || svc.Spec.Selector["run"] != "redis" || len(svc.Spec.Ports) != 1 ||
		svc.Spec.Ports[0].Port != 6379 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("created %s %+v", req.Resource, svc)
	}
	e.run("expose", "pod/redis", "--port", "80", "--target-port", "db", "--name", "web").expectOut(t, "service/web exposed\n")
	if _, svc := createdService(t, e); svc.Name != "web" || svc.Spec.Ports[0].TargetPort != intstr.FromString("db") {
		t.Errorf("created %+v", svc)
	}
	// Without --port, the pod's container ports.
	e.run("expose", "pod", "redis", "--name", "intro").expectOut(t, "service/intro exposed\n")
	if _, svc := createdService(t, e); svc.Spec.Ports[0].Port != 6379 {
		t.Errorf("introspected ports %+v", svc.Spec.Ports)
	}
	r := e.run("expose", "pod", "redis", "--port", "1", "--name", "x", "--dry-run=client", "-o", "yaml")
	if r.err != nil || !strings.Contains(r.out, "kind: Service") || !strings.Contains(r.out, "run: redis") {
		t.Errorf("dry run: %v\n%s", r.err, r.out)
	}

	e.srv.Put("pods", &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "default"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	})
	for args, want := range map[string]string{
		"expose pod bare --port 80":   "error: couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed\n",
		"expose pod redis --port 80":  "Error from server (AlreadyExists): services \"redis\" already exists\n",
		"expose pod missing --port 1": "Error from server (NotFound): pods \"missing\" not found\n",
		"expose configmap x --port 1": "error: cannot expose a ConfigMap\n",
	} {
		if r := e.run(strings.Fields(args)...); r.printed != want {
			t.Errorf("%s: printed %q, want %q", args, r.printed, want)
		}
	}
}

// TestExposeLabels: the Service carries the exposed object's labels, as
// kubectl expose makes it, unless --labels/-l gives its own.
func TestExposeLabels(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default", Labels: map[string]string{"run": "redis", "tier": "cache"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "redis", Image: "redis"}}},
	})
	e.run("expose", "pod", "redis", "--port", "6379").expectOut(t, "service/redis exposed\n")
	_, svc := createdService(t, e)
	want := map[string]string{"run": "redis", "tier": "cache"}
	if !reflect.DeepEqual(svc.Labels, want) || !reflect.DeepEqual(svc.Spec.Selector, want) {
		t.Errorf("labels %v, selector %v; want both %v", svc.Labels, svc.Spec.Selector, want)
	}

	// --selector changes the selector only.
	e.run("expose", "pod", "redis", "--port", "6379", "--name", "sel", "--selector", "run=redis").expectOut(t, "service/sel exposed\n")
	if _, svc := createdService(t, e); !reflect.DeepEqual(svc.Labels, want) || !reflect.DeepEqual(svc.Spec.Selector, map[string]string{"run": "redis"}) {
		t.Errorf("labels %v, selector %v", svc.Labels, svc.Spec.Selector)
	}
	// -l replaces the labels, not the selector.
	e.run("expose", "pod", "redis", "--port", "6379", "--name", "own", "-l", "app=cache,example.com/team=db").expectOut(t, "service/own exposed\n")
	if _, svc := createdService(t, e); !reflect.DeepEqual(svc.Labels, map[string]string{"app": "cache", "example.com/team": "db"}) ||
		!reflect.DeepEqual(svc.Spec.Selector, want) {
		t.Errorf("labels %v, selector %v", svc.Labels, svc.Spec.Selector)
	}
	r := e.run("expose", "pod", "redis", "--port", "1", "--name", "x", "--labels", "app=x", "--dry-run=client", "-o", "yaml")
	if r.err != nil || !strings.Contains(r.out, "  labels:\n    app: x\n  name: x\n") || !strings.Contains(r.out, "  selector:\n    run: redis\n    tier: cache\n") {
		t.Errorf("dry run: %v\n%s", r.err, r.out)
	}

	// Exposing a service copies its labels too.
	e.srv.Put("services", &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "default", Labels: map[string]string{"app": "front"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"run": "redis"},
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6379)}}},
	})
	e.run("expose", "svc", "front", "--name", "front2").expectOut(t, "service/front2 exposed\n")
	if _, svc := createdService(t, e); !reflect.DeepEqual(svc.Labels, map[string]string{"app": "front"}) ||
		!reflect.DeepEqual(svc.Spec.Selector, map[string]string{"run": "redis"}) {
		t.Errorf("labels %v, selector %v", svc.Labels, svc.Spec.Selector)
	}

	before := len(e.srv.Requests())
	for args, want := range map[string]string{
		"-l app":             `error: invalid label "app" in --labels: want key=value pairs separated by commas, e.g. app=web,tier=front` + "\n",
		"-l app=web,tier":    `error: invalid label "tier" in --labels: want key=value pairs separated by commas, e.g. app=web,tier=front` + "\n",
		"-l app=web,":        `error: invalid label "" in --labels: want key=value pairs separated by commas, e.g. app=web,tier=front` + "\n",
		"-l a=b=c":           `error: invalid label "a=b=c" in --labels: want key=value pairs separated by commas, e.g. app=web,tier=front` + "\n",
		"-l =web":            `error: invalid label "=web" in --labels: empty key` + "\n",
		"--labels -bad=web":  `error: invalid label "-bad=web" in --labels: key "-bad": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')` + "\n",
		"--labels app=-web-": `error: invalid label "app=-web-" in --labels: value "-web-": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')` + "\n",
	} {
		args := append([]string{"expose", "pod", "redis", "--port", "80", "--name", "bad"}, strings.Fields(args)...)
		if r := e.run(args...); r.printed != want {
			t.Errorf("%v: printed %q, want %q", args, r.printed, want)
		}
	}
	if len(e.srv.Requests()) != before {
		t.Error("a bad --labels reached the server")
	}
}

func TestGetServicesAndEndpoints(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("services", &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, ClusterIP: "10.96.0.12", ClusterIPs: []string{"10.96.0.12"},
			Selector: map[string]string{"run": "redis"},
			Ports:    []corev1.ServicePort{{Port: 6379, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(6379)}}},
	})
	e.srv.Put("endpoints", &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{Name: "redis", Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.0.5"}, {IP: "10.244.0.6"}, {IP: "10.244.0.7"}, {IP: "10.244.0.8"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.0.9"}},
			Ports:             []corev1.EndpointPort{{Port: 6379, Protocol: corev1.ProtocolTCP}},
		}},
	})
	e.run("get", "svc").expectOut(t, ""+
		"NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE\n"+
		"redis   ClusterIP   10.96.0.12   <none>        6379/TCP   5m\n")
	e.run("get", "ep").expectOut(t, ""+
		"NAME    ENDPOINTS                                                     AGE\n"+
		"redis   10.244.0.5:6379,10.244.0.6:6379,10.244.0.7:6379 + 1 more...   5m\n")
	r := e.run("describe", "svc", "redis")
	for _, re := range []string{`(?m)^Name:\s+redis$`, `(?m)^Selector:\s+run=redis$`, `(?m)^Type:\s+ClusterIP$`, `(?m)^IP:\s+10\.96\.0\.12$`,
		`(?m)^Port:\s+<unset>\s+6379/TCP$`, `(?m)^TargetPort:\s+6379/TCP$`, `(?m)^Endpoints:\s+10\.244\.0\.5:6379,10\.244\.0\.6:6379,10\.244\.0\.7:6379,10\.244\.0\.8:6379$`,
		`(?m)^Session Affinity:\s+None$`} {
		if !regexp.MustCompile(re).MatchString(r.out) {
			t.Errorf("describe svc: no %s in\n%s%v", re, r.out, r.err)
		}
	}
}
