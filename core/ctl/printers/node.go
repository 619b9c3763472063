package printers

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	labelNodeRole       = "kubernetes.io/role"
)

// NodeColumns are the columns of `get nodes`.
var NodeColumns = []Column{
	{Name: "Name"}, {Name: "Status"}, {Name: "Roles"}, {Name: "Age"}, {Name: "Version"},
	{Name: "Internal-IP", Wide: true}, {Name: "External-IP", Wide: true}, {Name: "OS-Image", Wide: true},
	{Name: "Kernel-Version", Wide: true}, {Name: "Container-Runtime", Wide: true},
}

// NodeRoles are the roles named by node-role.kubernetes.io/<role> labels
// (and the older kubernetes.io/role=<role>), sorted.
func NodeRoles(node *corev1.Node) []string {
	set := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			if role := strings.TrimPrefix(k, labelNodeRolePrefix); role != "" {
				set[role] = true
			}
		case k == labelNodeRole && v != "":
			set[v] = true
		}
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return roles
}

// NodeStatus is the STATUS column: Ready/NotReady/Unknown, plus
// SchedulingDisabled for a cordoned node.
func NodeStatus(node *corev1.Node) string {
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = []string{string(c.Type)}
		} else {
			status = []string{"Not" + string(c.Type)}
		}
	}
	if len(status) == 0 {
		status = append(status, "Unknown")
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}
	return strings.Join(status, ",")
}

// NodeAddress is the first address of type t, or "<none>".
func NodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

// NodeRow is the row of one node in `get nodes`.
func NodeRow(node *corev1.Node, now time.Time) Row {
	roles := strings.Join(NodeRoles(node), ",")
	info := node.Status.NodeInfo
	return Row{Cells: []string{
		node.Name, NodeStatus(node), orNone(roles), Age(node.CreationTimestamp, now), info.KubeletVersion,
		NodeAddress(node, corev1.NodeInternalIP), NodeAddress(node, corev1.NodeExternalIP),
		orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion),
	}}
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// NodeTable is the `get nodes` table.
func NodeTable(nodes []corev1.Node, now time.Time) Table {
	t := Table{Columns: NodeColumns}
	for i := range nodes {
		t.Rows = append(t.Rows, NodeRow(&nodes[i], now))
	}
	return t
}
