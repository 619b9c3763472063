package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// nodeUnreachablePodReason is the pod status reason the node controller sets
// on pods of an unreachable node.
const nodeUnreachablePodReason = "NodeLost"

// PodColumns are the columns of `get pods`.
var PodColumns = []Column{
	{Name: "Name"}, {Name: "Ready"}, {Name: "Status"}, {Name: "Restarts"}, {Name: "Age"},
	{Name: "IP", Wide: true}, {Name: "Node", Wide: true},
	{Name: "Nominated Node", Wide: true}, {Name: "Readiness Gates", Wide: true},
}

// Age renders the time since t as kubectl does ("<unknown>" when unset).
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// PodSummary is what kubectl's READY, STATUS and RESTARTS columns show.
type PodSummary struct {
	Ready       int
	Total       int
	Status      string
	Restarts    int
	LastRestart time.Time
}

// ReadyString is the READY column ("1/2").
func (s PodSummary) ReadyString() string { return fmt.Sprintf("%d/%d", s.Ready, s.Total) }

// RestartsString is the RESTARTS column, with "(5m ago)" for the last restart.
func (s PodSummary) RestartsString(now time.Time) string {
	if s.Restarts != 0 && !s.LastRestart.IsZero() {
		return fmt.Sprintf("%d (%s ago)", s.Restarts, duration.HumanDuration(now.Sub(s.LastRestart)))
	}
	return strconv.Itoa(s.Restarts)
}

// podSummarizer holds the running state of kubectl's printPod algorithm.
type podSummarizer struct {
	pod         *corev1.Pod
	s           PodSummary
	sidecars    int       // restarts of restartable init containers
	lastSidecar time.Time // last restart of a restartable init container
}

// SummarizePod computes READY, STATUS and RESTARTS exactly as kubectl's
// printPod (pkg/printers/internalversion/printers.go) does.
func SummarizePod(pod *corev1.Pod) PodSummary {
	z := &podSummarizer{pod: pod}
	z.s.Total = len(pod.Spec.Containers)
	z.s.Status = z.initialReason()
	initializing := z.initContainers()
	if !initializing || podConditionTrue(pod.Status.Conditions, corev1.PodInitialized) {
		z.containers()
	}
	z.deletion()
	return z.s
}

func (z *podSummarizer) initialReason() string {
	reason := string(z.pod.Status.Phase)
	if z.pod.Status.Reason != "" {
		reason = z.pod.Status.Reason
	}
	for _, c := range z.pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	return reason
}

// initContainers walks the init container statuses in order and stops at
// the first one still holding the pod back; it reports whether one did.
func (z *podSummarizer) initContainers() bool {
	specs := map[string]*corev1.Container{}
	for i := range z.pod.Spec.InitContainers {
		c := &z.pod.Spec.InitContainers[i]
		specs[c.Name] = c
		if isRestartable(c) {
			z.s.Total++
		}
	}
	for i, cs := range z.pod.Status.InitContainerStatuses {
		z.s.Restarts += int(cs.RestartCount)
		z.s.LastRestart = later(z.s.LastRestart, lastFinished(cs))
		sidecar := isRestartable(specs[cs.Name])
		if sidecar {
			z.sidecars += int(cs.RestartCount)
			z.lastSidecar = later(z.lastSidecar, lastFinished(cs))
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecar && cs.Started != nil && *cs.Started:
			if cs.Ready {
				z.s.Ready++
			}
			continue
		case cs.State.Terminated != nil:
			z.s.Status = "Init:" + terminatedReason(cs.State.Terminated)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			z.s.Status = "Init:" + cs.State.Waiting.Reason
		default:
			z.s.Status = fmt.Sprintf("Init:%d/%d", i, len(z.pod.Spec.InitContainers))
		}
		return true
	}
	return false
}

// containers walks the app container statuses from last to first; restarts
// then count only restartable init containers and app containers.
func (z *podSummarizer) containers() {
	z.s.Restarts, z.s.LastRestart = z.sidecars, z.lastSidecar
	hasRunning := false
	statuses := z.pod.Status.ContainerStatuses
	for i := len(statuses) - 1; i >= 0; i-- {
		cs := statuses[i]
		z.s.Restarts += int(cs.RestartCount)
		z.s.LastRestart = later(z.s.LastRestart, lastFinished(cs))
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			z.s.Status = cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			z.s.Status = terminatedReason(cs.State.Terminated)
		case cs.Ready && cs.State.Running != nil:
			hasRunning = true
			z.s.Ready++
		}
	}
	if z.s.Status == "Completed" && hasRunning {
		if podConditionTrue(z.pod.Status.Conditions, corev1.PodReady) {
			z.s.Status = "Running"
		} else {
			z.s.Status = "NotReady"
		}
	}
}

func (z *podSummarizer) deletion() {
	if z.pod.DeletionTimestamp.IsZero() {
		return
	}
	if z.pod.Status.Reason == nodeUnreachablePodReason {
		z.s.Status = "Unknown"
	} else if !isTerminalPhase(z.pod.Status.Phase) {
		z.s.Status = "Terminating"
	}
}

// terminatedReason is the reason of a terminated state, or Signal:N /
// ExitCode:N when the runtime gave none.
func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

func lastFinished(cs corev1.ContainerStatus) time.Time {
	if t := cs.LastTerminationState.Terminated; t != nil {
		return t.FinishedAt.Time
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func isRestartable(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

func podConditionTrue(conds []corev1.PodCondition, t corev1.PodConditionType) bool {
	for _, c := range conds {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// PodRow is the row of one pod in `get pods`.
func PodRow(pod *corev1.Pod, now time.Time) Row {
	s := SummarizePod(pod)
	return Row{Namespace: pod.Namespace, Cells: []string{
		pod.Name, s.ReadyString(), s.Status, s.RestartsString(now), Age(pod.CreationTimestamp, now),
		orNone(podIP(pod)), orNone(pod.Spec.NodeName), orNone(pod.Status.NominatedNodeName), readinessGates(pod),
	}}
}

// podIP is the first of status.podIPs, as kubectl shows it; status.podIP
// stands in when an agent filled only that.
func podIP(pod *corev1.Pod) string {
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return pod.Status.PodIP
}

func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	trueConditions := 0
	for _, g := range pod.Spec.ReadinessGates {
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType {
				if c.Status == corev1.ConditionTrue {
					trueConditions++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", trueConditions, len(pod.Spec.ReadinessGates))
}

// PodTable is the `get pods` table.
func PodTable(pods []corev1.Pod, now time.Time) Table {
	t := Table{Columns: PodColumns}
	for i := range pods {
		t.Rows = append(t.Rows, PodRow(&pods[i], now))
	}
	return t
}
