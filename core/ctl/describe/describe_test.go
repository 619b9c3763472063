package describe

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func withResources(req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestQOSClass(t *testing.T) {
	cpuMem := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	cpuOnly := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	tests := []struct {
		name string
		c    []corev1.Container
		want corev1.PodQOSClass
	}{
		{"nothing set", []corev1.Container{{Name: "c"}}, corev1.PodQOSBestEffort},
		{"limits equal requests", []corev1.Container{withResources(cpuMem, cpuMem)}, corev1.PodQOSGuaranteed},
		// Kubernetes defaults requests to limits on create; without that the
		// pod is Burstable, as upstream computes it.
		{"limits only, requests not defaulted", []corev1.Container{withResources(nil, cpuMem)}, corev1.PodQOSBurstable},
		{"cpu limit only", []corev1.Container{withResources(nil, cpuOnly)}, corev1.PodQOSBurstable},
		{"requests below limits", []corev1.Container{withResources(cpuOnly, cpuMem)}, corev1.PodQOSBurstable},
		{"one container without", []corev1.Container{withResources(cpuMem, cpuMem), {Name: "d"}}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tt.c}}
		if got := QOSClass(pod); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	set := &corev1.Pod{Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed}}
	if QOSClass(set) != corev1.PodQOSGuaranteed {
		t.Error("status qosClass ignored")
	}
}

func TestLongAnnotationsFold(t *testing.T) {
	long := strings.Repeat("v", 150)
	out := tabbed(func(w prefixWriter) {
		annotations(w, "Annotations", map[string]string{"a": "short", "b": long, lastAppliedAnnotation: "{}"})
	})
	want := "Annotations:  a: short\n              b:\n                " + long[:138] + "...\n"
	if out != want {
		t.Errorf("got:\n%q\nwant:\n%q", out, want)
	}
}

func TestProbe(t *testing.T) {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}},
		InitialDelaySeconds: 5, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	if got := Probe(p); got != "tcp-socket :0 delay=5s timeout=1s period=10s successThreshold=1 failureThreshold=3" {
		t.Errorf("got %q", got)
	}
}
