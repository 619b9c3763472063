package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/sdk/probes"
)

func TestToProbeResolvesNamedPortsAndTimings(t *testing.T) {
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	p := toProbe(c, &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"), Scheme: "HTTP",
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "1"}}}},
		InitialDelaySeconds: 5, PeriodSeconds: 3, TimeoutSeconds: 2, SuccessThreshold: 1, FailureThreshold: 4,
	})
	if p.HTTPGet == nil || p.HTTPGet.Port != 8080 || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Headers["X-Probe"] != "1" {
		t.Errorf("httpGet = %+v", p.HTTPGet)
	}
	if p.InitialDelay != 5*time.Second || p.Period != 3*time.Second || p.Timeout != 2*time.Second || p.FailureThreshold != 4 {
		t.Errorf("timings = %+v", p)
	}
	if toProbe(c, nil) != nil {
		t.Error("no probe became a probe")
	}
	tcp := toProbe(c, &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(6379)}}})
	if tcp.TCPSocket == nil || tcp.TCPSocket.Port != 6379 {
		t.Errorf("tcpSocket = %+v", tcp.TCPSocket)
	}
}

func TestProbeGracePrefersTheProbesOwn(t *testing.T) {
	pod, probeGraceSecs := int64(30), int64(3)
	spec := corev1.PodSpec{TerminationGracePeriodSeconds: &pod, Containers: []corev1.Container{{Name: "web",
		LivenessProbe: &corev1.Probe{TerminationGracePeriodSeconds: &probeGraceSecs}}}}
	p := &corev1.Pod{Spec: spec}
	if g := probeGrace(p, "web", probes.Liveness); g != 3*time.Second {
		t.Errorf("liveness grace %v, want 3s", g)
	}
	if g := probeGrace(p, "web", probes.Startup); g != 30*time.Second {
		t.Errorf("startup grace %v, want the pod's 30s", g)
	}
}
