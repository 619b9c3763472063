package describe

import (
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/ctl/printers"
)

// NodeLease is the node's heartbeat Lease for Node, or why it could not be
// read (a silent node's Lease has expired).
type NodeLease struct {
	Lease *coordinationv1.Lease
	Err   error
}

// Node describes a node, its Lease, the pods bound to it that have not
// finished, and the events about it, in kubectl's layout.
func Node(node *corev1.Node, lease NodeLease, pods []corev1.Pod, evs []corev1.Event, now time.Time) string {
	return tabbed(func(w prefixWriter) {
		w.write(level0, "Name:\t%s\n", node.Name)
		w.write(level0, "Roles:\t%s\n", orNone(strings.Join(printers.NodeRoles(node), ",")))
		labels(w, "Labels", node.Labels)
		annotations(w, "Annotations", node.Annotations)
		w.write(level0, "CreationTimestamp:\t%s\n", rfc1123z(node.CreationTimestamp))
		taints(w, node.Spec.Taints)
		w.write(level0, "Unschedulable:\t%v\n", node.Spec.Unschedulable)
		nodeLease(w, lease)
		nodeConditions(w, node)
		w.write(level0, "Addresses:\n")
		for _, a := range node.Status.Addresses {
			w.write(level1, "%s:\t%s\n", a.Type, a.Address)
		}
		resourceList(w, "Capacity", node.Status.Capacity)
		resourceList(w, "Allocatable", node.Status.Allocatable)
		systemInfo(w, node.Status.NodeInfo)
		if node.Spec.PodCIDR != "" {
			w.write(level0, "PodCIDR:\t%s\n", node.Spec.PodCIDR)
		}
		if len(node.Spec.PodCIDRs) > 0 {
			w.write(level0, "PodCIDRs:\t%s\n", strings.Join(node.Spec.PodCIDRs, ","))
		}
		nodePods(w, node, pods, now)
		events(w, evs, now)
	})
}

func nodeLease(w prefixWriter, l NodeLease) {
	if l.Lease == nil {
		w.write(level0, "Lease:\tFailed to get lease: %v\n", l.Err)
		return
	}
	w.write(level0, "Lease:\n")
	holder := "<unset>"
	if h := l.Lease.Spec.HolderIdentity; h != nil {
		holder = *h
	}
	w.write(level1, "HolderIdentity:\t%s\n", holder)
	w.write(level1, "AcquireTime:\t%s\n", microOrUnset(l.Lease.Spec.AcquireTime))
	w.write(level1, "RenewTime:\t%s\n", microOrUnset(l.Lease.Spec.RenewTime))
}

func microOrUnset(t *metav1.MicroTime) string {
	if t == nil {
		return "<unset>"
	}
	return t.Time.Format(time.RFC1123Z)
}

func taints(w prefixWriter, ts []corev1.Taint) {
	w.write(level0, "Taints:\t")
	if len(ts) == 0 {
		w.line("<none>")
		return
	}
	for i, t := range ts {
		if i != 0 {
			w.write(level0, "\t")
		}
		w.write(level0, "%s\n", t.ToString())
	}
}

func nodeConditions(w prefixWriter, node *corev1.Node) {
	if len(node.Status.Conditions) == 0 {
		return
	}
	w.write(level0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
	w.write(level1, "----\t------\t-----------------\t------------------\t------\t-------\n")
	for _, c := range node.Status.Conditions {
		w.write(level1, "%v \t%v \t%s \t%s \t%v \t%v\n", c.Type, c.Status,
			rfc1123z(c.LastHeartbeatTime), rfc1123z(c.LastTransitionTime), c.Reason, c.Message)
	}
}

func resourceList(w prefixWriter, title string, rl corev1.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.write(level0, "%s:\n", title)
	for _, name := range sortedResourceNames(rl) {
		q := rl[name]
		w.write(level0, "  %s:\t%s\n", name, q.String())
	}
}

func systemInfo(w prefixWriter, info corev1.NodeSystemInfo) {
	w.write(level0, "System Info:\n")
	w.write(level0, "  Machine ID:\t%s\n", info.MachineID)
	w.write(level0, "  System UUID:\t%s\n", info.SystemUUID)
	w.write(level0, "  Boot ID:\t%s\n", info.BootID)
	w.write(level0, "  Kernel Version:\t%s\n", info.KernelVersion)
	w.write(level0, "  OS Image:\t%s\n", info.OSImage)
	w.write(level0, "  Operating System:\t%s\n", info.OperatingSystem)
	w.write(level0, "  Architecture:\t%s\n", info.Architecture)
	w.write(level0, "  Container Runtime Version:\t%s\n", info.ContainerRuntimeVersion)
	w.write(level0, "  Kubelet Version:\t%s\n", info.KubeletVersion)
}

// nodePods prints the non-terminated pods table and the allocated resources.
func nodePods(w prefixWriter, node *corev1.Node, pods []corev1.Pod, now time.Time) {
	alloc := node.Status.Capacity
	if len(node.Status.Allocatable) > 0 {
		alloc = node.Status.Allocatable
	}
	w.write(level0, "Non-terminated Pods:\t(%d in total)\n", len(pods))
	w.write(level1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
	w.write(level1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
	totalReq, totalLim := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range pods {
		p := &pods[i]
		req, lim := PodRequestsAndLimits(p)
		addAll(totalReq, req)
		addAll(totalLim, lim)
		w.write(level1, "%s\t%s\t\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name,
			share(req, alloc, corev1.ResourceCPU), share(lim, alloc, corev1.ResourceCPU),
			share(req, alloc, corev1.ResourceMemory), share(lim, alloc, corev1.ResourceMemory),
			since(p.CreationTimestamp, now))
	}
	w.write(level0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
	w.write(level1, "Resource\tRequests\tLimits\n")
	w.write(level1, "--------\t--------\t------\n")
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		w.write(level1, "%s\t%s\t%s\n", name, share(totalReq, alloc, name), share(totalLim, alloc, name))
	}
}

// share is "quantity (percent%)" of a resource against what the node offers.
func share(have, alloc corev1.ResourceList, name corev1.ResourceName) string {
	q := have[name]
	total := alloc[name]
	pct := int64(0)
	if name == corev1.ResourceCPU && total.MilliValue() != 0 {
		pct = int64(float64(q.MilliValue()) / float64(total.MilliValue()) * 100)
	} else if name != corev1.ResourceCPU && total.Value() != 0 {
		pct = int64(float64(q.Value()) / float64(total.Value()) * 100)
	}
	return q.String() + " (" + strconv.FormatInt(pct, 10) + "%)"
}

// PodRequestsAndLimits sums a pod's container requests and limits; an init
// container that asks for more than all app containers together raises the
// total to its own, as the scheduler counts it.
func PodRequestsAndLimits(pod *corev1.Pod) (corev1.ResourceList, corev1.ResourceList) {
	req, lim := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addAll(req, c.Resources.Requests)
		addAll(lim, c.Resources.Limits)
	}
	for _, c := range pod.Spec.InitContainers {
		maxAll(req, c.Resources.Requests)
		maxAll(lim, c.Resources.Limits)
	}
	return req, lim
}

func addAll(sum, from corev1.ResourceList) {
	for name, q := range from {
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
}

func maxAll(sum, from corev1.ResourceList) {
	for name, q := range from {
		if prev, ok := sum[name]; !ok || q.Cmp(prev) > 0 {
			sum[name] = q.DeepCopy()
		}
	}
}
