package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/core/version"
	"github.com/skiffhq/skiff/sdk/network"
)

// heartbeatInterval is how often the node's Lease is renewed and its status
// checked (the kubelet renews every 10 s).
const heartbeatInterval = 10 * time.Second // controllers.DefaultHeartbeatInterval

// register creates the Node object, or refreshes it after a restart. Other
// writers (the pod-CIDR allocator) may update the node meanwhile, so each
// write retries on conflict with the newest version.
//
// The agent owns the Node's labels and status. Its spec.taints are set
// from RegisterWithTaints only when the agent creates the Node (the
// kubelet's --register-with-taints); after that they are the cluster's,
// and a restart, with or without the flag, leaves them as they are.
func (a *Agent) register(ctx context.Context, port int) (*corev1.Node, error) {
	want := a.nodeObject(port)
	var node corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := a.cfg.Client.Get(ctx, api.Nodes, "", a.cfg.NodeName, &node)
		if apierrors.IsNotFound(err) {
			node = *want.DeepCopy()
			return a.cfg.Client.Create(ctx, api.Nodes, "", &node)
		}
		if err != nil {
			return err
		}
		// The agent's own labels are refreshed; labels others put on the
		// node (kubectl label, as with a kubelet) stay.
		if node.Labels == nil {
			node.Labels = map[string]string{}
		}
		changed := false
		for k, v := range want.Labels {
			if cur, ok := node.Labels[k]; !ok || cur != v {
				node.Labels[k], changed = v, true
			}
		}
		if !changed {
			return nil
		}
		return a.cfg.Client.Update(ctx, api.Nodes, "", &node, "")
	})
	if err != nil {
		return nil, fmt.Errorf("register node %q: %w", a.cfg.NodeName, err)
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := a.cfg.Client.Get(ctx, api.Nodes, "", a.cfg.NodeName, &node); err != nil {
			return err
		}
		node.Status = want.Status
		return a.cfg.Client.Update(ctx, api.Nodes, "", &node, "status")
	})
	if err != nil {
		return nil, fmt.Errorf("report status of node %q: %w", a.cfg.NodeName, err)
	}
	return &node, nil
}

func (a *Agent) nodeObject(port int) *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": a.cfg.NodeName,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
	}
	for _, r := range a.cfg.Roles {
		labels["node-role.kubernetes.io/"+r] = ""
	}
	var taints []corev1.Taint
	for _, t := range a.cfg.RegisterWithTaints {
		taints = append(taints, *t.DeepCopy())
	}
	return &corev1.Node{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     a.nodeStatus(port, false),
	}
}

// nodeStatus is the node's status; ready is false until the pod network is
// set up, so no pod is scheduled to a node that cannot run it.
func (a *Agent) nodeStatus(port int, ready bool) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	now := metav1.Now()
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		// Ready first: postStatus keeps its transition time. PluginsHealthy
		// (issue 7) tells which plugins are down or crash-looping.
		Conditions: []corev1.NodeCondition{readyCondition(ready, now), pluginsCondition(a.cfg.Plugins, now)},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          version.Version,
			OperatingSystem:         goruntime.GOOS,
			Architecture:            goruntime.GOARCH,
			KernelVersion:           kernelVersion(),
			OSImage:                 osImage(),
			ContainerRuntimeVersion: "containerd",
		},
	}
}

func readyCondition(ready bool, now metav1.Time) corev1.NodeCondition {
	if !ready {
		return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message: "pod network is not set up yet", LastHeartbeatTime: now, LastTransitionTime: now}
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "skiff agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
}

// NodePluginsHealthy is the node condition about the node's plugins
// (issue 7: crash-loop handling).
const NodePluginsHealthy corev1.NodeConditionType = "PluginsHealthy"

// pluginsCondition is False, naming the kinds, while any plugin of the node
// is down or crash-looping; the node keeps running its pods meanwhile. Its
// transition time is when the plugins last changed health.
func pluginsCondition(host *pluginhost.Host, now metav1.Time) corev1.NodeCondition {
	c := corev1.NodeCondition{Type: NodePluginsHealthy, Status: corev1.ConditionTrue, Reason: "PluginsHealthy",
		Message: "every plugin of the node answers", LastHeartbeatTime: now, LastTransitionTime: now}
	if host == nil {
		return c
	}
	var bad []string
	var latest, latestBad time.Time
	for _, st := range host.Status() {
		if st.Since.After(latest) {
			latest = st.Since
		}
		if st.Healthy {
			continue
		}
		if st.Since.After(latestBad) {
			latestBad = st.Since
		}
		what := string(st.Kind) + " is down"
		if st.CrashLoop {
			what = string(st.Kind) + " is crash-looping"
		}
		if st.Message != "" {
			what += " (" + st.Message + ")"
		}
		bad = append(bad, what)
	}
	if len(bad) == 0 {
		if !latest.IsZero() {
			c.LastTransitionTime = metav1.NewTime(latest)
		}
		return c
	}
	c.Status, c.Reason = corev1.ConditionFalse, "PluginsUnhealthy"
	c.Message = "plugins not healthy: " + strings.Join(bad, "; ")
	c.LastTransitionTime = metav1.NewTime(latestBad)
	return c
}

// nodeStatusReportInterval is how often the node's status is written when
// nothing in it changed (the kubelet's nodeStatusReportFrequency is 5 min;
// skiff's is shorter so that `describe node` heartbeat times stay recent).
// Liveness is the Lease (lease.go), renewed every HeartbeatInterval.
const nodeStatusReportInterval = time.Minute

// heartbeat checks the node's status every HeartbeatInterval, writing it
// when it changed, and sends the plugin report.
func (a *Agent) heartbeat(ctx context.Context, port int) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	report := time.NewTicker(pluginReportCheck)
	defer report.Stop()
	a.reportPlugins(ctx, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-report.C:
			a.reportPlugins(ctx, false)
		case <-t.C:
			a.postStatusIfChanged(ctx, port)
		}
	}
}

// postStatus writes the node's status now.
func (a *Agent) postStatus(ctx context.Context, port int) {
	if err := a.updateStatus(ctx, port, true); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat: update node status", "error", err)
	}
}

// postStatusIfChanged writes the node's status when it differs from the
// stored one (the node lifecycle controller may have set it Unknown) or
// when the last write is older than nodeStatusReportInterval.
func (a *Agent) postStatusIfChanged(ctx context.Context, port int) {
	due := time.Since(a.lastStatusPost()) >= nodeStatusReportInterval
	if err := a.updateStatus(ctx, port, due); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat: update node status", "error", err)
	}
}

func (a *Agent) updateStatus(ctx context.Context, port int, always bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var node corev1.Node
		if err := a.cfg.Client.Get(ctx, api.Nodes, "", a.cfg.NodeName, &node); err != nil {
			return err
		}
		st := a.nodeStatus(port, true)
		for _, old := range node.Status.Conditions {
			if old.Type == corev1.NodeReady && old.Status == corev1.ConditionTrue {
				st.Conditions[0].LastTransitionTime = old.LastTransitionTime
			}
		}
		if !always && sameNodeStatus(node.Status, st) {
			return nil
		}
		node.Status = st
		if err := a.cfg.Client.Update(ctx, api.Nodes, "", &node, "status"); err != nil {
			return err
		}
		a.statusMu.Lock()
		a.statusPosted = time.Now()
		a.statusMu.Unlock()
		return nil
	})
}

func (a *Agent) lastStatusPost() time.Time {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	return a.statusPosted
}

// sameNodeStatus compares two statuses, heartbeat and transition times
// aside.
func sameNodeStatus(x, y corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(x), strip(y))
}

func (a *Agent) reportPlugins(ctx context.Context, force bool) {
	if err := a.plugins.report(ctx, force); err != nil && ctx.Err() == nil {
		a.log.Debug("report plugins", "error", err)
	}
}

// setupNetwork waits for the node's pod subnet and hands it to the network
// plugin. It is set up again whenever the network plugin restarts.
func (a *Agent) setupNetwork(ctx context.Context, node *corev1.Node) error {
	for node.Spec.PodCIDR == "" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if err := a.cfg.Client.Get(ctx, api.Nodes, "", a.cfg.NodeName, node); err != nil {
			return fmt.Errorf("node %q: wait for pod CIDR: %w", a.cfg.NodeName, err)
		}
	}
	cfg := network.NodeConfig{NodeName: a.cfg.NodeName, PodCIDR: node.Spec.PodCIDR, ClusterCIDR: a.cfg.ClusterCIDR, NodeIP: a.cfg.NodeIP}
	runCtx := ctx
	svcs := a.newServiceSync() // services and DNS (services.go)
	setup := func(ctx context.Context) error {
		net, err := a.network()
		if err != nil {
			return err
		}
		st, err := net.SetupNode(ctx, cfg)
		if err != nil {
			return err
		}
		a.setNodeNetwork(st)
		a.networkReady(ctx, runCtx, st) // overlay peers (peers.go)
		svcs.nodeReady(runCtx)          // full service set again (services.go)
		return nil
	}
	a.cfg.Plugins.OnRestart("network", func(ctx context.Context) {
		if err := setup(ctx); err != nil {
			a.log.Error("set up node network after network plugin restart", "error", err)
		}
	})
	if err := setup(ctx); err != nil {
		return fmt.Errorf("node %q: set up pod network %s: %w", a.cfg.NodeName, cfg.PodCIDR, err)
	}
	return nil
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return goruntime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return goruntime.GOOS
}
