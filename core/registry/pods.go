package registry

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

// Default grace period, as in Kubernetes.
const defaultTerminationGracePeriod int64 = 30

// metaFields are the metadata fields every kind accepts. Server-set fields
// are accepted so that `get -o yaml` output can be applied again.
var metaFields = []string{
	"apiVersion", "kind", "metadata",
	"metadata.name", "metadata.namespace", "metadata.labels.*", "metadata.annotations.*",
	"metadata.uid", "metadata.resourceVersion", "metadata.creationTimestamp", "metadata.generation",
	"metadata.deletionTimestamp", "metadata.deletionGracePeriodSeconds", "metadata.managedFields.*",
}

// containerFields are the container fields skiff implements today.
var containerFields = []string{
	"name", "image", "command", "args", "workingDir", "imagePullPolicy",
	"env", "env[].name", "env[].value",
	"env[].valueFrom", "env[].valueFrom.configMapKeyRef", "env[].valueFrom.configMapKeyRef.name", "env[].valueFrom.configMapKeyRef.key", "env[].valueFrom.configMapKeyRef.optional",
	"env[].valueFrom.secretKeyRef", "env[].valueFrom.secretKeyRef.name", "env[].valueFrom.secretKeyRef.key", "env[].valueFrom.secretKeyRef.optional",
	"envFrom", "envFrom[].prefix", "envFrom[].configMapRef", "envFrom[].configMapRef.name", "envFrom[].configMapRef.optional",
	"envFrom[].secretRef", "envFrom[].secretRef.name", "envFrom[].secretRef.optional",
	"ports", "ports[].name", "ports[].containerPort", "ports[].protocol",
	"resources", "resources.limits.*", "resources.requests.*",
	"terminationMessagePath", "terminationMessagePolicy", "stdin", "stdinOnce", "tty",
	"volumeMounts", "volumeMounts[].name", "volumeMounts[].mountPath", "volumeMounts[].readOnly", "volumeMounts[].subPath",
	"securityContext", "securityContext.runAsUser", "securityContext.runAsGroup", "securityContext.runAsNonRoot",
	"securityContext.readOnlyRootFilesystem", "securityContext.allowPrivilegeEscalation", "securityContext.privileged",
	"securityContext.capabilities", "securityContext.capabilities.add", "securityContext.capabilities.drop",
}

// probeFields are the fields of each of a container's probes.
var probeFields = []string{
	"", ".exec", ".exec.command", ".httpGet", ".httpGet.path", ".httpGet.port", ".httpGet.host", ".httpGet.scheme",
	".httpGet.httpHeaders", ".httpGet.httpHeaders[].name", ".httpGet.httpHeaders[].value",
	".tcpSocket", ".tcpSocket.port", ".tcpSocket.host", ".grpc", ".grpc.port", ".grpc.service",
	".initialDelaySeconds", ".periodSeconds", ".timeoutSeconds", ".successThreshold", ".failureThreshold",
	".terminationGracePeriodSeconds",
}

var podSupported = func() supportedFields {
	paths := append([]string{}, metaFields...)
	paths = append(paths,
		"spec", "spec.containers", "spec.initContainers",
		"spec.restartPolicy", "spec.terminationGracePeriodSeconds", "spec.dnsPolicy",
		"spec.nodeName", "spec.nodeSelector.*", "spec.schedulerName", "spec.enableServiceLinks",
		"spec.tolerations", "spec.tolerations[].key", "spec.tolerations[].operator", "spec.tolerations[].value",
		"spec.tolerations[].effect", "spec.tolerations[].tolerationSeconds",
		"spec.securityContext", "spec.securityContext.runAsUser", "spec.securityContext.runAsGroup", "spec.securityContext.runAsNonRoot",
		"spec.volumes", "spec.volumes[].name", "spec.volumes[].emptyDir", "spec.volumes[].emptyDir.medium", "spec.volumes[].emptyDir.sizeLimit",
		"spec.volumes[].configMap", "spec.volumes[].configMap.name", "spec.volumes[].configMap.defaultMode", "spec.volumes[].configMap.optional",
		"spec.volumes[].configMap.items", "spec.volumes[].configMap.items[].key", "spec.volumes[].configMap.items[].path", "spec.volumes[].configMap.items[].mode",
		"spec.volumes[].secret", "spec.volumes[].secret.secretName", "spec.volumes[].secret.defaultMode", "spec.volumes[].secret.optional",
		"spec.volumes[].secret.items", "spec.volumes[].secret.items[].key", "spec.volumes[].secret.items[].path", "spec.volumes[].secret.items[].mode",
		"spec.volumes[].hostPath", "spec.volumes[].hostPath.path", "spec.volumes[].hostPath.type",
		"status.*",
	)
	for _, list := range []string{"spec.containers[]", "spec.initContainers[]"} {
		for _, f := range containerFields {
			paths = append(paths, list+"."+f)
		}
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
		for _, f := range probeFields {
			paths = append(paths, "spec.containers[]."+probe+f)
		}
	}
	return newSupportedFields(paths...)
}()

// PodStrategy is the pods resource.
type PodStrategy struct{}

func (PodStrategy) Resource() api.Resource { return api.Pods }
func (PodStrategy) New() Object            { return &corev1.Pod{} }

func (PodStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Pod]("Pod", data, podSupported)
}

func (PodStrategy) PrepareForCreate(obj Object) {
	pod := obj.(*corev1.Pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending}
	DefaultPodSpec(&pod.Spec)
}

// DefaultPodSpec applies Kubernetes' defaults to a pod spec.
func DefaultPodSpec(spec *corev1.PodSpec) {
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.TerminationGracePeriodSeconds == nil {
		g := defaultTerminationGracePeriod
		spec.TerminationGracePeriodSeconds = &g
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
}

func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = DefaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		defaultProbe(p)
	}
	// As in Kubernetes: a limit without a request makes the request equal it.
	for name, q := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[name] = q.DeepCopy()
		}
	}
}

// defaultProbe applies Kubernetes' probe defaults.
func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil && p.HTTPGet.Scheme == "" {
		p.HTTPGet.Scheme = corev1.URISchemeHTTP
	}
}

// DefaultPullPolicy is Kubernetes' default: Always for ":latest" or no tag,
// IfNotPresent otherwise.
func DefaultPullPolicy(image string) corev1.PullPolicy {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || ref[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func (PodStrategy) Validate(obj Object) field.ErrorList {
	pod := obj.(*corev1.Pod)
	errs := ValidateMeta(pod, true, validation.IsDNS1123Subdomain)
	return append(errs, validatePodSpec(&pod.Spec, field.NewPath("spec"))...)
}

func validatePodSpec(spec *corev1.PodSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), "a pod needs at least one container"))
	}
	volumes := sets.New[string]()
	for i, v := range spec.Volumes {
		vp := path.Child("volumes").Index(i)
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), v.Name, msg))
		}
		if volumes.Has(v.Name) {
			errs = append(errs, field.Duplicate(vp.Child("name"), v.Name))
		}
		volumes.Insert(v.Name)
		errs = append(errs, validateVolumeSource(v.VolumeSource, vp)...) // volumesources.go
	}
	names := sets.New[string]()
	errs = append(errs, validateContainers(spec.InitContainers, path.Child("initContainers"), names, volumes)...)
	errs = append(errs, validateContainers(spec.Containers, path.Child("containers"), names, volumes)...)
	switch spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(path.Child("restartPolicy"), spec.RestartPolicy, []string{"Always", "OnFailure", "Never"}))
	}
	if g := spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *g, "must be >= 0"))
	}
	if spec.DNSPolicy != corev1.DNSClusterFirst && spec.DNSPolicy != corev1.DNSDefault {
		errs = append(errs, field.NotSupported(path.Child("dnsPolicy"), spec.DNSPolicy, []string{"ClusterFirst", "Default"}))
	}
	if spec.SchedulerName != corev1.DefaultSchedulerName {
		errs = append(errs, field.NotSupported(path.Child("schedulerName"), spec.SchedulerName, []string{corev1.DefaultSchedulerName}))
	}
	if spec.NodeName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(spec.NodeName) {
			errs = append(errs, field.Invalid(path.Child("nodeName"), spec.NodeName, msg))
		}
	}
	errs = append(errs, ValidateTolerations(spec.Tolerations, path.Child("tolerations"))...)
	return errs
}

// tolerationOperators are the operators skiff accepts: Kubernetes' Equal
// and Exists (Lt and Gt are behind a Kubernetes feature gate that is off
// by default, and refused the same way).
var tolerationOperators = []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}

// ValidateTolerations checks a pod's tolerations as Kubernetes does
// (ValidateTolerations), with its messages and field paths (an Equal
// value that is not a label value is reported on the operator, as
// Kubernetes does):
//
//   - a key, when set, is a qualified name;
//   - an empty key needs the Exists operator (it matches every taint);
//   - tolerationSeconds needs the NoExecute effect (skiff accepts it and
//     does not evict: docs/decisions.md);
//   - Equal (or no operator) needs a label value, Exists an empty value;
//   - the operator is Equal or Exists, the effect empty, NoSchedule,
//     PreferNoSchedule or NoExecute.
func ValidateTolerations(tolerations []corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		ip := path.Index(i)
		if t.Key != "" {
			errs = append(errs, metavalidation.ValidateLabelName(t.Key, ip.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(ip.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(ip.Child("effect"), t.Effect,
				"effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				errs = append(errs, field.Invalid(ip.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(ip.Child("operator"), t, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(ip.Child("operator"), t.Operator, tolerationOperators))
		}
		errs = append(errs, validateTaintEffect(t.Effect, true, ip.Child("effect"))...) // nodes.go
	}
	return errs
}

// validateOnlyAddedTolerations is Kubernetes' rule for tolerations on a pod
// update: every existing toleration stays (its tolerationSeconds may
// change); new ones may be added.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, path *field.Path) field.ErrorList {
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			o.TolerationSeconds = t.TolerationSeconds
			if apiequality.Semantic.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(path, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validateContainers(cs []corev1.Container, path *field.Path, names, volumes sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c := &cs[i]
		cp := path.Index(i)
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		}
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			errs = append(errs, field.Invalid(cp.Child("name"), c.Name, msg))
		}
		if names.Has(c.Name) {
			errs = append(errs, field.Duplicate(cp.Child("name"), c.Name))
		}
		names.Insert(c.Name)
		if strings.TrimSpace(c.Image) == "" {
			errs = append(errs, field.Required(cp.Child("image"), ""))
		}
		switch c.ImagePullPolicy {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		default:
			errs = append(errs, field.NotSupported(cp.Child("imagePullPolicy"), c.ImagePullPolicy, []string{"Always", "IfNotPresent", "Never"}))
		}
		errs = append(errs, validateEnv(c.Env, cp.Child("env"))...)
		errs = append(errs, validateEnvFrom(c.EnvFrom, cp.Child("envFrom"))...) // volumesources.go
		errs = append(errs, validatePorts(c.Ports, cp.Child("ports"))...)
		errs = append(errs, validateResources(c.Resources, cp.Child("resources"))...)
		errs = append(errs, validateSecurityContext(c.SecurityContext, cp.Child("securityContext"))...)
		errs = append(errs, validateProbe(c, c.LivenessProbe, cp.Child("livenessProbe"), true)...)
		errs = append(errs, validateProbe(c, c.ReadinessProbe, cp.Child("readinessProbe"), false)...)
		errs = append(errs, validateProbe(c, c.StartupProbe, cp.Child("startupProbe"), true)...)
		for j, m := range c.VolumeMounts {
			mp := cp.Child("volumeMounts").Index(j)
			if !volumes.Has(m.Name) {
				errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
			}
			if !strings.HasPrefix(m.MountPath, "/") {
				errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be an absolute path"))
			}
			if m.SubPath != "" {
				errs = append(errs, validateLocalDescendingPath(m.SubPath, mp.Child("subPath"))...) // volumesources.go
			}
		}
	}
	return errs
}

func validateSecurityContext(sc *corev1.SecurityContext, path *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	for _, id := range []struct {
		name string
		v    *int64
	}{{"runAsUser", sc.RunAsUser}, {"runAsGroup", sc.RunAsGroup}} {
		if id.v != nil && (*id.v < 0 || *id.v > 2147483647) {
			errs = append(errs, field.Invalid(path.Child(id.name), *id.v, "must be between 0 and 2147483647, inclusive"))
		}
	}
	if sc.Privileged != nil && *sc.Privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		errs = append(errs, field.Invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
	}
	if sc.Capabilities != nil {
		for _, list := range []struct {
			name string
			caps []corev1.Capability
		}{{"add", sc.Capabilities.Add}, {"drop", sc.Capabilities.Drop}} {
			for i, c := range list.caps {
				if !capabilityName.MatchString(string(c)) {
					errs = append(errs, field.Invalid(path.Child("capabilities", list.name).Index(i), c, "must be a capability name such as NET_ADMIN (or ALL)"))
				}
			}
		}
	}
	return errs
}

// validateProbe checks a probe as Kubernetes does. Liveness and startup
// probes must have successThreshold 1.
func validateProbe(c *corev1.Container, p *corev1.Probe, path *field.Path, singleSuccess bool) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	handlers := 0
	if p.Exec != nil {
		handlers++
		if len(p.Exec.Command) == 0 {
			errs = append(errs, field.Required(path.Child("exec", "command"), ""))
		}
	}
	if p.HTTPGet != nil {
		handlers++
		errs = append(errs, validateProbePort(c, p.HTTPGet.Port, path.Child("httpGet", "port"))...)
		if s := p.HTTPGet.Scheme; s != corev1.URISchemeHTTP && s != corev1.URISchemeHTTPS {
			errs = append(errs, field.NotSupported(path.Child("httpGet", "scheme"), s, []string{"HTTP", "HTTPS"}))
		}
	}
	if p.TCPSocket != nil {
		handlers++
		errs = append(errs, validateProbePort(c, p.TCPSocket.Port, path.Child("tcpSocket", "port"))...)
	}
	if p.GRPC != nil {
		handlers++
		for _, msg := range validation.IsValidPortNum(int(p.GRPC.Port)) {
			errs = append(errs, field.Invalid(path.Child("grpc", "port"), p.GRPC.Port, msg))
		}
	}
	switch {
	case handlers == 0:
		errs = append(errs, field.Required(path, "must specify a handler type"))
	case handlers > 1:
		errs = append(errs, field.Forbidden(path, "may not specify more than 1 handler type"))
	}
	for _, n := range []struct {
		name string
		v    int32
		min  int32
	}{{"initialDelaySeconds", p.InitialDelaySeconds, 0}, {"periodSeconds", p.PeriodSeconds, 1}, {"timeoutSeconds", p.TimeoutSeconds, 1},
		{"successThreshold", p.SuccessThreshold, 1}, {"failureThreshold", p.FailureThreshold, 1}} {
		if n.v < n.min {
			errs = append(errs, field.Invalid(path.Child(n.name), n.v, fmt.Sprintf("must be greater than or equal to %d", n.min)))
		}
	}
	if singleSuccess && p.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(path.Child("successThreshold"), p.SuccessThreshold, "must be 1"))
	}
	return errs
}

// validateProbePort accepts a port number or the name of a container port.
func validateProbePort(c *corev1.Container, port intstr.IntOrString, path *field.Path) field.ErrorList {
	if port.Type == intstr.String {
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				return nil
			}
		}
		return field.ErrorList{field.Invalid(path, port.StrVal, "must be a port number or the name of one of the container's ports")}
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(port.IntValue()) {
		errs = append(errs, field.Invalid(path, port.IntValue(), msg))
	}
	return errs
}

var capabilityName = regexp.MustCompile(`^(CAP_)?[A-Z][A-Z0-9_]*$`)

func validateEnv(env []corev1.EnvVar, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(path.Index(i).Child("name"), e.Name, msg))
		}
		if e.ValueFrom != nil {
			errs = append(errs, validateEnvVarSource(e, path.Index(i))...) // volumesources.go
		}
	}
	return errs
}

func validatePorts(ports []corev1.ContainerPort, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range ports {
		pp := path.Index(i)
		for _, msg := range validation.IsValidPortNum(int(p.ContainerPort)) {
			errs = append(errs, field.Invalid(pp.Child("containerPort"), p.ContainerPort, msg))
		}
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
		}
		switch p.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), p.Protocol, []string{"TCP", "UDP", "SCTP"}))
		}
	}
	return errs
}

var supportedResources = []string{string(corev1.ResourceCPU), string(corev1.ResourceMemory)}

func validateResources(r corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"limits", r.Limits}, {"requests", r.Requests}} {
		for name, q := range list.rl {
			p := path.Child(list.name).Key(string(name))
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				errs = append(errs, field.NotSupported(path.Child(list.name), name, supportedResources))
				continue
			}
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(path.Child("requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func (PodStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	KeepMetaOnUpdate(pod, oldPod)
	switch subresource {
	case "":
		pod.Status = oldPod.Status
		DefaultPodSpec(&pod.Spec)
		if pod.Spec.NodeName == "" {
			pod.Spec.NodeName = oldPod.Spec.NodeName
		}
	case "status":
		pod.Spec = oldPod.Spec
		pod.Labels, pod.Annotations = oldPod.Labels, oldPod.Annotations
	case "binding":
		if oldPod.Spec.NodeName != "" {
			return apierrors.NewConflict(api.Pods.GroupResource(), pod.Name, fmt.Errorf("pod %q is already assigned to node %q", pod.Name, oldPod.Spec.NodeName))
		}
		nodeName := pod.Spec.NodeName
		conditions := pod.Status.Conditions
		*pod = *oldPod.DeepCopy()
		pod.Spec.NodeName = nodeName
		pod.Status.Conditions = conditions
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("pods: unknown subresource %q", subresource))
	}
	return nil
}

// ValidateUpdate allows what Kubernetes allows on a pod: labels,
// annotations, container images and new tolerations; the rest of the spec
// is immutable.
func (s PodStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	errs := s.Validate(pod)
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, oldPod.Spec.Tolerations, field.NewPath("spec", "tolerations"))...)
	mutable := oldPod.Spec.DeepCopy()
	mutable.Tolerations = pod.Spec.Tolerations
	for i := range mutable.Containers {
		if i < len(pod.Spec.Containers) {
			mutable.Containers[i].Image = pod.Spec.Containers[i].Image
		}
	}
	for i := range mutable.InitContainers {
		if i < len(pod.Spec.InitContainers) {
			mutable.InitContainers[i].Image = pod.Spec.InitContainers[i].Image
		}
	}
	mutable.NodeName = pod.Spec.NodeName
	if !apiequality.Semantic.DeepEqual(*mutable, pod.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.tolerations` (only additions to existing tolerations)"))
	}
	return errs
}

func (PodStrategy) Fields(obj Object) fields.Set {
	pod := obj.(*corev1.Pod)
	return fields.Set{
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
		"spec.nodeName":      pod.Spec.NodeName,
		"status.phase":       string(pod.Status.Phase),
	}
}
