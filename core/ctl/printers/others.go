package printers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Tables of the other v1 kinds skiff is to serve (DESIGN.md, Objects).
// They are used as soon as the API lists the resource.

// ConfigMapTable is the `get configmaps` table.
func ConfigMapTable(items []corev1.ConfigMap, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Data"}, {Name: "Age"}}}
	for _, c := range items {
		t.Rows = append(t.Rows, Row{Namespace: c.Namespace, Cells: []string{
			c.Name, strconv.Itoa(len(c.Data) + len(c.BinaryData)), Age(c.CreationTimestamp, now)}})
	}
	return t
}

// SecretTable is the `get secrets` table.
func SecretTable(items []corev1.Secret, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Type"}, {Name: "Data"}, {Name: "Age"}}}
	for _, s := range items {
		t.Rows = append(t.Rows, Row{Namespace: s.Namespace, Cells: []string{
			s.Name, string(s.Type), strconv.Itoa(len(s.Data)), Age(s.CreationTimestamp, now)}})
	}
	return t
}

// NamespaceTable is the `get namespaces` table.
func NamespaceTable(items []corev1.Namespace, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Status"}, {Name: "Age"}}}
	for _, n := range items {
		t.Rows = append(t.Rows, Row{Cells: []string{n.Name, string(n.Status.Phase), Age(n.CreationTimestamp, now)}})
	}
	return t
}

// ServiceTable is the `get services` table.
func ServiceTable(items []corev1.Service, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Type"}, {Name: "Cluster-IP"}, {Name: "External-IP"},
		{Name: "Port(s)"}, {Name: "Age"}, {Name: "Selector", Wide: true}}}
	for i := range items {
		s := &items[i]
		clusterIP := s.Spec.ClusterIP
		if len(s.Spec.ClusterIPs) > 0 {
			clusterIP = s.Spec.ClusterIPs[0]
		}
		ports := servicePorts(s.Spec.Ports)
		t.Rows = append(t.Rows, Row{Namespace: s.Namespace, Cells: []string{
			s.Name, string(s.Spec.Type), orNone(clusterIP), serviceExternalIP(s), orNone(ports),
			Age(s.CreationTimestamp, now), labels.FormatLabels(s.Spec.Selector)}})
	}
	return t
}

func servicePorts(ports []corev1.ServicePort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			parts[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return strings.Join(parts, ",")
}

func serviceExternalIP(s *corev1.Service) string {
	switch s.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, "":
		if len(s.Spec.ExternalIPs) > 0 {
			return strings.Join(s.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		var ips []string
		for _, in := range s.Status.LoadBalancer.Ingress {
			ips = append(ips, firstNonEmpty(in.IP, in.Hostname))
		}
		ips = append(ips, s.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	case corev1.ServiceTypeExternalName:
		return s.Spec.ExternalName
	}
	return "<unknown>"
}

// LeaseTable is the `get leases` table (kubectl: NAME, HOLDER, AGE).
func LeaseTable(items []coordinationv1.Lease, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Holder"}, {Name: "Age"}}}
	for _, l := range items {
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		t.Rows = append(t.Rows, Row{Namespace: l.Namespace, Cells: []string{l.Name, holder, Age(l.CreationTimestamp, now)}})
	}
	return t
}
