package describe

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Pod describes a pod and the events about it, in kubectl's layout.
func Pod(pod *corev1.Pod, evs []corev1.Event, now time.Time) string {
	return tabbed(func(w prefixWriter) {
		podHeader(w, pod, now)
		if len(pod.Spec.InitContainers) > 0 {
			containers(w, "Init Containers", pod, pod.Spec.InitContainers, pod.Status.InitContainerStatuses)
		}
		containers(w, "Containers", pod, pod.Spec.Containers, pod.Status.ContainerStatuses)
		readinessGates(w, pod)
		if len(pod.Status.Conditions) > 0 {
			w.write(level0, "Conditions:\n  Type\tStatus\n")
			for _, c := range pod.Status.Conditions {
				w.write(level1, "%v \t%v \n", c.Type, c.Status)
			}
		}
		volumes(w, pod.Spec.Volumes)
		w.write(level0, "QoS Class:\t%s\n", QOSClass(pod))
		labels(w, "Node-Selectors", pod.Spec.NodeSelector)
		tolerations(w, pod.Spec.Tolerations)
		events(w, evs, now)
	})
}

func podHeader(w prefixWriter, pod *corev1.Pod, now time.Time) {
	w.write(level0, "Name:\t%s\n", pod.Name)
	w.write(level0, "Namespace:\t%s\n", pod.Namespace)
	if pod.Spec.Priority != nil {
		w.write(level0, "Priority:\t%d\n", *pod.Spec.Priority)
	}
	if pod.Spec.PriorityClassName != "" {
		w.write(level0, "Priority Class Name:\t%s\n", pod.Spec.PriorityClassName)
	}
	if pod.Spec.ServiceAccountName != "" {
		w.write(level0, "Service Account:\t%s\n", pod.Spec.ServiceAccountName)
	}
	if pod.Spec.NodeName == "" {
		w.write(level0, "Node:\t<none>\n")
	} else {
		w.write(level0, "Node:\t%s\n", pod.Spec.NodeName+"/"+pod.Status.HostIP)
	}
	if pod.Status.StartTime != nil {
		w.write(level0, "Start Time:\t%s\n", rfc1123z(*pod.Status.StartTime))
	}
	labels(w, "Labels", pod.Labels)
	annotations(w, "Annotations", pod.Annotations)
	if pod.DeletionTimestamp != nil && pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded {
		w.write(level0, "Status:\tTerminating (lasts %s)\n", since(*pod.DeletionTimestamp, now))
		if pod.DeletionGracePeriodSeconds != nil {
			w.write(level0, "Termination Grace Period:\t%ds\n", *pod.DeletionGracePeriodSeconds)
		}
	} else {
		w.write(level0, "Status:\t%s\n", pod.Status.Phase)
	}
	if pod.Status.Reason != "" {
		w.write(level0, "Reason:\t%s\n", pod.Status.Reason)
	}
	if pod.Status.Message != "" {
		w.write(level0, "Message:\t%s\n", pod.Status.Message)
	}
	w.write(level0, "IP:\t%s\n", pod.Status.PodIP)
	podIPs(w, pod)
	if pod.Status.NominatedNodeName != "" {
		w.write(level0, "NominatedNodeName:\t%s\n", pod.Status.NominatedNodeName)
	}
}

func podIPs(w prefixWriter, pod *corev1.Pod) {
	if len(pod.Status.PodIPs) == 0 {
		w.write(level0, "IPs:\t<none>\n")
		return
	}
	w.write(level0, "IPs:\n")
	for _, ip := range pod.Status.PodIPs {
		w.write(level1, "IP:\t%s\n", ip.IP)
	}
}

func containers(w prefixWriter, label string, pod *corev1.Pod, specs []corev1.Container, statuses []corev1.ContainerStatus) {
	byName := map[string]corev1.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	none := ""
	if len(specs) == 0 {
		none = " <none>"
	}
	w.write(level0, "%s:%s\n", label, none)
	for _, c := range specs {
		status, ok := byName[c.Name]
		containerBasics(w, c, status, ok)
		containerCommand(w, c)
		if ok {
			containerState(w, status)
		}
		resources(w, c.Resources, level2)
		probes(w, c)
		envFrom(w, c)
		env(w, c, pod)
		mounts(w, c)
	}
}

func containerBasics(w prefixWriter, c corev1.Container, status corev1.ContainerStatus, ok bool) {
	w.write(level1, "%v:\n", c.Name)
	if ok {
		w.write(level2, "Container ID:\t%s\n", status.ContainerID)
	}
	w.write(level2, "Image:\t%s\n", c.Image)
	if ok {
		w.write(level2, "Image ID:\t%s\n", status.ImageID)
	}
	ports, hostPorts := containerPorts(c.Ports)
	if strings.Contains(ports, ",") {
		w.write(level2, "Ports:\t%s\n", ports)
	} else {
		w.write(level2, "Port:\t%s\n", orNone(ports))
	}
	if strings.Contains(hostPorts, ",") {
		w.write(level2, "Host Ports:\t%s\n", hostPorts)
	} else {
		w.write(level2, "Host Port:\t%s\n", orNone(hostPorts))
	}
}

func containerPorts(ports []corev1.ContainerPort) (string, string) {
	var cp, hp []string
	for _, p := range ports {
		suffix := ""
		if p.Name != "" {
			suffix = fmt.Sprintf(" (%s)", p.Name)
		}
		cp = append(cp, fmt.Sprintf("%d/%s%s", p.ContainerPort, p.Protocol, suffix))
		hp = append(hp, fmt.Sprintf("%d/%s%s", p.HostPort, p.Protocol, suffix))
	}
	return strings.Join(cp, ", "), strings.Join(hp, ", ")
}

func containerCommand(w prefixWriter, c corev1.Container) {
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		w.write(level2, "%s:\n", title)
		for _, it := range items {
			for _, s := range strings.Split(it, "\n") {
				w.write(level3, "%s\n", s)
			}
		}
	}
	list("Command", c.Command)
	list("Args", c.Args)
}

func containerState(w prefixWriter, s corev1.ContainerStatus) {
	state(w, "State", s.State)
	if s.LastTerminationState.Terminated != nil {
		state(w, "Last State", s.LastTerminationState)
	}
	w.write(level2, "Ready:\t%v\n", printBool(s.Ready))
	w.write(level2, "Restart Count:\t%d\n", s.RestartCount)
}

func state(w prefixWriter, name string, st corev1.ContainerState) {
	switch {
	case st.Running != nil:
		w.write(level2, "%s:\tRunning\n", name)
		w.write(level3, "Started:\t%v\n", rfc1123z(st.Running.StartedAt))
	case st.Terminated != nil:
		t := st.Terminated
		w.write(level2, "%s:\tTerminated\n", name)
		if t.Reason != "" {
			w.write(level3, "Reason:\t%s\n", t.Reason)
		}
		if t.Message != "" {
			w.write(level3, "Message:\t%s\n", t.Message)
		}
		w.write(level3, "Exit Code:\t%d\n", t.ExitCode)
		if t.Signal > 0 {
			w.write(level3, "Signal:\t%d\n", t.Signal)
		}
		w.write(level3, "Started:\t%s\n", rfc1123z(t.StartedAt))
		w.write(level3, "Finished:\t%s\n", rfc1123z(t.FinishedAt))
	default:
		w.write(level2, "%s:\tWaiting\n", name)
		if st.Waiting != nil && st.Waiting.Reason != "" {
			w.write(level3, "Reason:\t%s\n", st.Waiting.Reason)
		}
	}
}

func resources(w prefixWriter, r corev1.ResourceRequirements, level int) {
	list := func(title string, rl corev1.ResourceList) {
		if len(rl) == 0 {
			return
		}
		w.write(level, "%s:\n", title)
		for _, name := range sortedResourceNames(rl) {
			q := rl[name]
			w.write(level+1, "%s:\t%s\n", name, q.String())
		}
	}
	list("Limits", r.Limits)
	list("Requests", r.Requests)
}

func sortedResourceNames(rl corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(rl))
	for n := range rl {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

func probes(w prefixWriter, c corev1.Container) {
	for _, p := range []struct {
		title string
		probe *corev1.Probe
	}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
		if p.probe != nil {
			w.write(level2, "%s:\t%s\n", p.title, Probe(p.probe))
		}
	}
}

// Probe renders a probe as kubectl describe does.
func Probe(p *corev1.Probe) string {
	attrs := fmt.Sprintf("delay=%ds timeout=%ds period=%ds successThreshold=%d failureThreshold=%d",
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
	switch {
	case p.Exec != nil:
		return fmt.Sprintf("exec %v %s", p.Exec.Command, attrs)
	case p.HTTPGet != nil:
		host := p.HTTPGet.Host
		if port := p.HTTPGet.Port.String(); port != "" {
			host += ":" + port
		}
		return fmt.Sprintf("http-get %s://%s%s %s", strings.ToLower(string(p.HTTPGet.Scheme)), host, p.HTTPGet.Path, attrs)
	case p.TCPSocket != nil:
		return fmt.Sprintf("tcp-socket %s:%s %s", p.TCPSocket.Host, p.TCPSocket.Port.String(), attrs)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		return fmt.Sprintf("grpc <pod>:%d %s %s", p.GRPC.Port, service, attrs)
	}
	return "unknown " + attrs
}

func envFrom(w prefixWriter, c corev1.Container) {
	if len(c.EnvFrom) == 0 {
		return
	}
	w.write(level2, "Environment Variables from:\n")
	for _, e := range c.EnvFrom {
		from, name, optional := "", "", false
		switch {
		case e.ConfigMapRef != nil:
			from, name = "ConfigMap", e.ConfigMapRef.Name
			optional = e.ConfigMapRef.Optional != nil && *e.ConfigMapRef.Optional
		case e.SecretRef != nil:
			from, name = "Secret", e.SecretRef.Name
			optional = e.SecretRef.Optional != nil && *e.SecretRef.Optional
		}
		if e.Prefix == "" {
			w.write(level3, "%s\t%s\tOptional: %t\n", name, from, optional)
		} else {
			w.write(level3, "%s\t%s with prefix '%s'\tOptional: %t\n", name, from, e.Prefix, optional)
		}
	}
}

func env(w prefixWriter, c corev1.Container, pod *corev1.Pod) {
	if len(c.Env) == 0 {
		w.write(level2, "Environment:\t<none>\n")
		return
	}
	w.write(level2, "Environment:\n")
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			for i, s := range strings.Split(e.Value, "\n") {
				if i == 0 {
					w.write(level3, "%s:\t%s\n", e.Name, s)
				} else {
					w.write(level3, "\t%s\n", s)
				}
			}
			continue
		}
		envValueFrom(w, e, pod)
	}
}

func envValueFrom(w prefixWriter, e corev1.EnvVar, pod *corev1.Pod) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		w.write(level3, "%s:\t%s (%s:%s)\n", e.Name, fieldValue(pod, vf.FieldRef.FieldPath), vf.FieldRef.APIVersion, vf.FieldRef.FieldPath)
	case vf.ResourceFieldRef != nil:
		w.write(level3, "%s:\t%s (%s)\n", e.Name, "", vf.ResourceFieldRef.Resource)
	case vf.SecretKeyRef != nil:
		opt := vf.SecretKeyRef.Optional != nil && *vf.SecretKeyRef.Optional
		w.write(level3, "%s:\t<set to the key '%s' in secret '%s'>\tOptional: %t\n", e.Name, vf.SecretKeyRef.Key, vf.SecretKeyRef.Name, opt)
	case vf.ConfigMapKeyRef != nil:
		opt := vf.ConfigMapKeyRef.Optional != nil && *vf.ConfigMapKeyRef.Optional
		w.write(level3, "%s:\t<set to the key '%s' of config map '%s'>\tOptional: %t\n", e.Name, vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name, opt)
	}
}

// fieldValue resolves the downward-API field paths a pod can expose.
func fieldValue(pod *corev1.Pod, path string) string {
	if key, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[key]
	}
	if key, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[key]
	}
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return pod.Spec.NodeName
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.hostIP":
		return pod.Status.HostIP
	case "status.podIP":
		return pod.Status.PodIP
	}
	return ""
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

func mounts(w prefixWriter, c corev1.Container) {
	if len(c.VolumeMounts) == 0 {
		w.write(level2, "Mounts:\t<none>\n")
		return
	}
	w.write(level2, "Mounts:\n")
	ms := append([]corev1.VolumeMount(nil), c.VolumeMounts...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].MountPath < ms[j].MountPath })
	for _, m := range ms {
		flags := []string{"rw"}
		if m.ReadOnly {
			flags[0] = "ro"
		}
		if m.SubPath != "" {
			flags = append(flags, fmt.Sprintf("path=%q", m.SubPath))
		}
		w.write(level3, "%s from %s (%s)\n", m.MountPath, m.Name, strings.Join(flags, ","))
	}
}

func readinessGates(w prefixWriter, pod *corev1.Pod) {
	if len(pod.Spec.ReadinessGates) == 0 {
		return
	}
	w.write(level0, "Readiness Gates:\n  Type\tStatus\n")
	for _, g := range pod.Spec.ReadinessGates {
		status := "<none>"
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType {
				status = string(c.Status)
				break
			}
		}
		w.write(level1, "%v \t%v \n", g.ConditionType, status)
	}
}

func volumes(w prefixWriter, vols []corev1.Volume) {
	if len(vols) == 0 {
		w.write(level0, "Volumes:\t<none>\n")
		return
	}
	w.write(level0, "Volumes:\n")
	for _, v := range vols {
		w.write(level1, "%v:\n", v.Name)
		volumeSource(w, v.VolumeSource)
	}
}

func volumeSource(w prefixWriter, vs corev1.VolumeSource) {
	switch {
	case vs.EmptyDir != nil:
		limit := "<unset>"
		if vs.EmptyDir.SizeLimit != nil && vs.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) > 0 {
			limit = vs.EmptyDir.SizeLimit.String()
		}
		w.write(level2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n"+
			"    Medium:\t%v\n    SizeLimit:\t%v\n", vs.EmptyDir.Medium, limit)
	case vs.ConfigMap != nil:
		opt := vs.ConfigMap.Optional != nil && *vs.ConfigMap.Optional
		w.write(level2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n"+
			"    Name:\t%v\n    Optional:\t%v\n", vs.ConfigMap.Name, opt)
	case vs.Secret != nil:
		opt := vs.Secret.Optional != nil && *vs.Secret.Optional
		w.write(level2, "Type:\tSecret (a volume populated by a Secret)\n"+
			"    SecretName:\t%v\n    Optional:\t%v\n", vs.Secret.SecretName, opt)
	case vs.HostPath != nil:
		t := "<none>"
		if vs.HostPath.Type != nil {
			t = string(*vs.HostPath.Type)
		}
		w.write(level2, "Type:\tHostPath (bare host directory volume)\n"+
			"    Path:\t%v\n    HostPathType:\t%v\n", vs.HostPath.Path, t)
	default:
		w.write(level1, "<unknown>\n")
	}
}

func tolerations(w prefixWriter, ts []corev1.Toleration) {
	w.write(level0, "Tolerations:\t")
	if len(ts) == 0 {
		w.line("<none>")
		return
	}
	sorted := append([]corev1.Toleration(nil), ts...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for i, t := range sorted {
		if i != 0 {
			w.write(level0, "\t")
		}
		w.write(level0, "%s\n", toleration(t))
	}
}

func toleration(t corev1.Toleration) string {
	s := t.Key
	if t.Value != "" {
		s += "=" + t.Value
	}
	if t.Effect != "" {
		s += ":" + string(t.Effect)
	}
	if t.Operator == corev1.TolerationOpExists && t.Value == "" {
		if t.Key != "" || t.Effect != "" {
			s += " op=Exists"
		} else {
			s += "op=Exists"
		}
	}
	if t.TolerationSeconds != nil {
		s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
	}
	return s
}

// QOSClass is the pod's quality-of-service class: the one in its status,
// else computed from container requests and limits as Kubernetes does.
func QOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container(nil), pod.Spec.Containers...), pod.Spec.InitContainers...)
	for _, c := range all {
		addPositive(requests, c.Resources.Requests)
		found := addPositive(limits, c.Resources.Limits)
		if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	for name, req := range requests {
		if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
			guaranteed = false
			break
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// addPositive adds the positive cpu and memory quantities of from into sum
// and reports which it found.
func addPositive(sum, from corev1.ResourceList) map[corev1.ResourceName]bool {
	found := map[corev1.ResourceName]bool{}
	for name, q := range from {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			continue
		}
		if q.Sign() <= 0 {
			continue
		}
		found[name] = true
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
	return found
}
