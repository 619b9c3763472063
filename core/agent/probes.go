package agent

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// Probes: the agent tells the probes plugin which running containers to
// probe and acts on the transitions it reports. Readiness drives the
// container's ready flag (and so the pod's Ready condition and READY
// column); a failed liveness or startup probe kills the container, and the
// pod's restart policy brings it back. The plugin keeps no state the agent
// cannot give it again: after it restarts, every container is added anew.

// probeState is what the agent knows of one probed container.
type probeState struct {
	spec    probes.Container
	podUID  types.UID
	ready   bool // readiness passed (true when there is no readiness probe)
	started bool // startup passed (true when there is no startup probe)
}

// probeTracker holds the probe state of every running container.
type probeTracker struct {
	mu         sync.Mutex
	containers map[string]*probeState // by container ID
}

func newProbeTracker() *probeTracker {
	return &probeTracker{containers: map[string]*probeState{}}
}

// readiness reports (ready, started) for a running container.
func (t *probeTracker) readiness(id string) (ready, started bool, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.containers[id]
	if !ok {
		return false, false, false
	}
	return st.ready, st.started, true
}

// ExecHost is the host service the core offers the probes plugin: exec
// probes run through it, routed to the runtime plugin.
type ExecHost struct {
	Plugins *pluginhost.Host
}

// Exec runs cmd in the container with a deadline and returns its exit code
// and combined output.
func (h ExecHost) Exec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (int, []byte, error) {
	impl, err := h.Plugins.Get(base.KindRuntime)
	if err != nil {
		return 0, nil, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var out bytes.Buffer
	code, err := impl.(runtime.Runtime).Exec(ctx, containerID, runtime.ExecOptions{Cmd: cmd, Stdout: &out, Stderr: &out})
	return code, out.Bytes(), err
}

func (a *Agent) prober() (probes.Prober, error) {
	impl, err := a.cfg.Plugins.Get(base.KindProbes)
	if err != nil {
		return nil, err
	}
	return impl.(probes.Prober), nil
}

// syncProbes registers the pod's running containers that have probes and
// forgets containers that stopped. seed gives the readiness a re-adopted
// container had before an agent restart, so a ready pod does not turn
// unready while its first probe runs.
func (w *podWorker) syncProbes(ctx context.Context, pod *corev1.Pod, groups map[string]instances) {
	running := map[string]bool{}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		latest := groups[c.Name].latest()
		if latest == nil || latest.State != runtime.StateRunning {
			continue
		}
		running[latest.ID] = true
		if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
			continue
		}
		w.a.addProbes(ctx, pod, c, latest, w.podIP())
	}
	w.a.forgetStoppedProbes(ctx, pod.UID, running)
}

func (w *podWorker) podIP() string {
	if w.netw != nil && len(w.netw.IPs) > 0 {
		return w.netw.IPs[0]
	}
	return ""
}

// addProbes starts probing a container unless it already is.
func (a *Agent) addProbes(ctx context.Context, pod *corev1.Pod, c *corev1.Container, inst *runtime.ContainerStatus, podIP string) {
	a.probeState.mu.Lock()
	_, known := a.probeState.containers[inst.ID]
	a.probeState.mu.Unlock()
	if known {
		return
	}
	spec := probes.Container{
		PodUID: string(pod.UID), ContainerName: c.Name, ContainerID: inst.ID, PodIP: podIP, StartedAt: inst.StartedAt,
		Startup: toProbe(c, c.StartupProbe), Readiness: toProbe(c, c.ReadinessProbe), Liveness: toProbe(c, c.LivenessProbe),
	}
	st := &probeState{spec: spec, podUID: pod.UID, ready: c.ReadinessProbe == nil, started: c.StartupProbe == nil}
	// Re-adopted after an agent restart: keep what the pod last reported.
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.ContainerID == "containerd://"+inst.ID {
			st.ready = st.ready || cs.Ready
			st.started = st.started || (cs.Started != nil && *cs.Started)
		}
	}
	// Known before the plugin has it: the plugin reports transitions only,
	// and its first result (often at once) must find the container, or a
	// readiness success is lost for good.
	a.probeState.mu.Lock()
	a.probeState.containers[inst.ID] = st
	a.probeState.mu.Unlock()
	p, err := a.prober()
	if err == nil {
		err = p.AddContainer(ctx, spec)
	}
	if err != nil {
		a.log.Warn("add probes", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "error", err)
		a.probeState.mu.Lock()
		delete(a.probeState.containers, inst.ID) // the next sync tries again
		a.probeState.mu.Unlock()
	}
}

// forgetStoppedProbes stops probing containers of the pod that no longer run.
func (a *Agent) forgetStoppedProbes(ctx context.Context, podUID types.UID, running map[string]bool) {
	a.probeState.mu.Lock()
	var gone []string
	for id, st := range a.probeState.containers {
		if st.podUID == podUID && !running[id] {
			gone = append(gone, id)
			delete(a.probeState.containers, id)
		}
	}
	a.probeState.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	p, err := a.prober()
	if err != nil {
		return
	}
	for _, id := range gone {
		_ = p.RemoveContainer(ctx, id)
	}
}

// readdProbes gives a restarted probes plugin every container again.
func (a *Agent) readdProbes(ctx context.Context) {
	p, err := a.prober()
	if err != nil {
		return
	}
	a.probeState.mu.Lock()
	specs := make([]probes.Container, 0, len(a.probeState.containers))
	for _, st := range a.probeState.containers {
		specs = append(specs, st.spec)
	}
	a.probeState.mu.Unlock()
	for _, s := range specs {
		if err := p.AddContainer(ctx, s); err != nil {
			a.log.Warn("re-add probes after plugin restart", "container", s.ContainerID, "error", err)
		}
	}
}

// watchProbeResults consumes the plugin's transitions until ctx ends,
// subscribing again whenever the stream ends (plugin restart).
func (a *Agent) watchProbeResults(ctx context.Context) {
	for ctx.Err() == nil {
		p, err := a.prober()
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		results, err := p.Results(sctx)
		if err != nil {
			cancel()
			sleep(ctx, time.Second)
			continue
		}
		for r := range results {
			a.onProbeResult(ctx, r)
		}
		cancel()
		sleep(ctx, 200*time.Millisecond)
	}
}

// onProbeResult records a transition and acts on it as kubelet does.
func (a *Agent) onProbeResult(ctx context.Context, r probes.Result) {
	a.probeState.mu.Lock()
	st, ok := a.probeState.containers[r.ContainerID]
	if ok {
		switch r.Probe {
		case probes.Readiness:
			st.ready = r.Success
		case probes.Startup:
			st.started = r.Success
		}
	}
	a.probeState.mu.Unlock()
	if !ok {
		return
	}
	pod := a.pod(st.podUID)
	if pod == nil {
		return
	}
	if !r.Success {
		_ = a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", probeTitle(r.Probe), r.Message)
	}
	if !r.Success && (r.Probe == probes.Liveness || r.Probe == probes.Startup) {
		a.killUnhealthy(ctx, pod, st, r.Probe)
	}
	a.mu.Lock()
	w := a.workers[st.podUID]
	a.mu.Unlock()
	if w != nil {
		w.poke()
	}
}

// killUnhealthy stops a container that failed its liveness or startup
// probe; the restart policy decides what comes next.
func (a *Agent) killUnhealthy(ctx context.Context, pod *corev1.Pod, st *probeState, kind probes.Kind) {
	name := st.spec.ContainerName
	_ = a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", name, kind)
	rt, err := a.runtime()
	if err != nil {
		a.log.Warn("kill unhealthy container", "container", name, "error", err)
		return
	}
	grace := probeGrace(pod, name, kind)
	if err := rt.StopContainer(ctx, st.spec.ContainerID, grace); err != nil {
		a.log.Warn("kill unhealthy container", "container", name, "error", err)
	}
}

// probeGrace is the probe's terminationGracePeriodSeconds, else the pod's.
func probeGrace(pod *corev1.Pod, container string, kind probes.Kind) time.Duration {
	grace := int64(30)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != container {
			continue
		}
		p := c.LivenessProbe
		if kind == probes.Startup {
			p = c.StartupProbe
		}
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			grace = *p.TerminationGracePeriodSeconds
		}
	}
	return time.Duration(grace) * time.Second
}

func probeTitle(k probes.Kind) string {
	return strings.ToUpper(string(k[:1])) + string(k[1:])
}

// toProbe translates a Kubernetes probe (defaults already applied by the
// server). A named port is resolved against the container's ports.
func toProbe(c *corev1.Container, p *corev1.Probe) *probes.Probe {
	if p == nil {
		return nil
	}
	out := &probes.Probe{
		InitialDelay:     time.Duration(p.InitialDelaySeconds) * time.Second,
		Period:           time.Duration(p.PeriodSeconds) * time.Second,
		Timeout:          time.Duration(p.TimeoutSeconds) * time.Second,
		SuccessThreshold: int(p.SuccessThreshold),
		FailureThreshold: int(p.FailureThreshold),
	}
	switch {
	case p.Exec != nil:
		out.Exec = p.Exec.Command
	case p.HTTPGet != nil:
		h := &probes.HTTPGet{Scheme: string(p.HTTPGet.Scheme), Host: p.HTTPGet.Host, Port: resolvePort(c, p.HTTPGet.Port), Path: p.HTTPGet.Path}
		if len(p.HTTPGet.HTTPHeaders) > 0 {
			h.Headers = map[string]string{}
			for _, hd := range p.HTTPGet.HTTPHeaders {
				h.Headers[hd.Name] = hd.Value
			}
		}
		out.HTTPGet = h
	case p.TCPSocket != nil:
		out.TCPSocket = &probes.TCPSocket{Host: p.TCPSocket.Host, Port: resolvePort(c, p.TCPSocket.Port)}
	case p.GRPC != nil:
		svc := ""
		if p.GRPC.Service != nil {
			svc = *p.GRPC.Service
		}
		out.GRPC = &probes.GRPC{Port: int(p.GRPC.Port), Service: svc}
	}
	return out
}

func resolvePort(c *corev1.Container, port intstr.IntOrString) int {
	if port.Type == intstr.Int {
		return port.IntValue()
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort)
		}
	}
	return 0
}
