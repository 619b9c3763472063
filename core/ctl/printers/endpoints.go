//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// EndpointsTable is the `get endpoints` table.
func EndpointsTable(items []corev1.Endpoints, now time.Time) Table {
	t := Table{Columns: []Column{{Name: "Name"}, {Name: "Endpoints"}, {Name: "Age"}}}
	for i := range items {
		e := &items[i]
		t.Rows = append(t.Rows, Row{Namespace: e.Namespace, Cells: []string{
			e.Name, FormatEndpoints(e), Age(e.CreationTimestamp, now)}})
	}
	return t
}

// FormatEndpoints lists the ready addresses as IP:port, at most three and
// "+ N more...", as kubectl prints them; "<none>" when there is no ready
// address (no subsets, or subsets with only not-ready addresses).
func FormatEndpoints(e *corev1.Endpoints) string {
	const maxShown = 3
	var list []string
	count := 0
	add := func(s string) {
		if len(list) < maxShown {
			list = append(list, s)
		}
		count++
	}
	for _, ss := range e.Subsets {
		if len(ss.Ports) == 0 { // headless services may have no ports
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	if count == 0 {
		return "<none>"
	}
	out := strings.Join(list, ",")
	if count > maxShown {
		return fmt.Sprintf("%s + %d more...", out, count-maxShown)
	}
	return out
}
