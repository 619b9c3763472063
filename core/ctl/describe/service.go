//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package describe

import (
	"encoding/json"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Service describes a service in kubectl's layout: selector, type, IPs,
// then each port with its target port and ready endpoints, and the events.
// endpoints is the JSON of the service's Endpoints object, nil when there
// is none.
func Service(svc *corev1.Service, endpoints []byte, evs []corev1.Event, now time.Time) string {
	var ep *corev1.Endpoints
	if len(endpoints) > 0 {
		ep = &corev1.Endpoints{}
		if json.Unmarshal(endpoints, ep) != nil {
			ep = nil
		}
	}
	return tabbed(func(w prefixWriter) {
		w.write(level0, "Name:\t%s\n", svc.Name)
		w.write(level0, "Namespace:\t%s\n", svc.Namespace)
		labels(w, "Labels", svc.Labels)
		annotations(w, "Annotations", svc.Annotations)
		w.write(level0, "Selector:\t%s\n", formatSelector(svc.Spec.Selector))
		w.write(level0, "Type:\t%s\n", svc.Spec.Type)
		if svc.Spec.IPFamilyPolicy != nil {
			w.write(level0, "IP Family Policy:\t%s\n", *svc.Spec.IPFamilyPolicy)
		}
		if len(svc.Spec.IPFamilies) > 0 {
			fams := make([]string, len(svc.Spec.IPFamilies))
			for i, f := range svc.Spec.IPFamilies {
				fams[i] = string(f)
			}
			w.write(level0, "IP Families:\t%s\n", strings.Join(fams, ","))
		}
		w.write(level0, "IP:\t%s\n", svc.Spec.ClusterIP)
		if len(svc.Spec.ClusterIPs) > 0 {
			w.write(level0, "IPs:\t%s\n", strings.Join(svc.Spec.ClusterIPs, ","))
		}
		for _, p := range svc.Spec.Ports {
			name := p.Name
			if name == "" {
				name = "<unset>"
			}
			w.write(level0, "Port:\t%s\t%d/%s\n", name, p.Port, p.Protocol)
			if p.TargetPort.Type == intstr.Type(intstr.Int) {
				w.write(level0, "TargetPort:\t%d/%s\n", p.TargetPort.IntVal, p.Protocol)
			} else {
				w.write(level0, "TargetPort:\t%s/%s\n", p.TargetPort.StrVal, p.Protocol)
			}
			w.write(level0, "Endpoints:\t%s\n", portEndpoints(ep, p.Name))
		}
		w.write(level0, "Session Affinity:\t%s\n", svc.Spec.SessionAffinity)
		if svc.Spec.InternalTrafficPolicy != nil {
			w.write(level0, "Internal Traffic Policy:\t%s\n", *svc.Spec.InternalTrafficPolicy)
		}
		events(w, evs, now)
	})
}

func formatSelector(sel map[string]string) string {
	if len(sel) == 0 {
		return "<none>"
	}
	return k8slabels.FormatLabels(sel)
}

// portEndpoints lists the ready IP:port pairs serving one service port.
func portEndpoints(ep *corev1.Endpoints, port string) string {
	if ep == nil {
		return "<none>"
	}
	var list []string
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			if p.Name != port {
				continue
			}
			for _, a := range ss.Addresses {
				list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	if len(list) == 0 {
		return "<none>"
	}
	sort.Strings(list)
	return strings.Join(list, ",")
}
