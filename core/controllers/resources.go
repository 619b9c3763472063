// Package controllers holds the server's control loops: scheduling and node
// pod-CIDR allocation. Controllers are ordinary API clients; they never
// touch etcd directly.
package controllers

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/sdk/scheduler"
)

// PodRequests is what a pod asks of its node, as Kubernetes computes it: the
// larger of the sum of its app containers' requests and the largest single
// init container's request, per resource.
func PodRequests(spec *corev1.PodSpec) scheduler.Resources {
	var sum scheduler.Resources
	for i := range spec.Containers {
		r := containerRequests(&spec.Containers[i])
		sum.MilliCPU += r.MilliCPU
		sum.MemoryBytes += r.MemoryBytes
	}
	for i := range spec.InitContainers {
		r := containerRequests(&spec.InitContainers[i])
		sum.MilliCPU = max(sum.MilliCPU, r.MilliCPU)
		sum.MemoryBytes = max(sum.MemoryBytes, r.MemoryBytes)
	}
	sum.Pods = 1
	return sum
}

func containerRequests(c *corev1.Container) scheduler.Resources {
	var r scheduler.Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		r.MemoryBytes = q.Value()
	}
	return r
}

// NodeAllocatable converts a node's allocatable list.
func NodeAllocatable(list corev1.ResourceList) scheduler.Resources {
	var r scheduler.Resources
	if q, ok := list[corev1.ResourceCPU]; ok {
		r.MilliCPU = q.MilliValue()
	}
	if q, ok := list[corev1.ResourceMemory]; ok {
		r.MemoryBytes = q.Value()
	}
	if q, ok := list[corev1.ResourcePods]; ok {
		r.Pods = q.Value()
	}
	return r
}

// NodeReady reports the node's Ready condition.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
