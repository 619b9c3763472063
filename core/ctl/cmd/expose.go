package cmd

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/api"
)

// ExposeOptions is `skiffctl expose`: a ClusterIP Service in front of a pod
// (or of a service's pods), selecting by the pod's labels, as kubectl
// expose does. The Service carries the exposed object's labels too, unless
// --labels gives its own.
type ExposeOptions struct {
	IOStreams
	f Factory

	Port       string
	TargetPort string
	Protocol   string
	Name       string
	Selector   string
	Labels     string
	Type       string
	ClusterIP  string
	DryRunFlag string
	Output     string

	target    target
	dryRun    DryRun
	namespace string
	labels    map[string]string // from --labels; nil: the exposed object's
}

// NewCmdExpose builds `skiffctl expose`.
func NewCmdExpose(f Factory, streams IOStreams) *cobra.Command {
	o := &ExposeOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "expose (TYPE NAME | TYPE/NAME) [--port=port] [--protocol=TCP|UDP] [--target-port=number-or-name] [--name=name] [--type=ClusterIP]",
		DisableFlagsInUseLine: true,
		Short:                 "Take a pod or service and expose it as a new Kubernetes service",
		Example: `  # Make a service for the redis pod, on port 6379
  skiffctl expose pod redis --port 6379

  # A service named web on port 80 that forwards to the pod's port 8080
  skiffctl expose pod nginx --port 80 --target-port 8080 --name web

  # A service labelled app=web,tier=front instead of with the pod's labels
  skiffctl expose pod nginx --port 80 -l app=web,tier=front`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Port, "port", "", "The port that the service should serve on. Copied from the resource being exposed, if unspecified")
	fl.StringVar(&o.TargetPort, "target-port", "", "Name or number for the port on the container that the service should direct traffic to. Optional.")
	fl.StringVar(&o.Protocol, "protocol", "", "The network protocol for the service to be created. Default is 'TCP'.")
	fl.StringVar(&o.Name, "name", "", "The name for the newly created object.")
	fl.StringVar(&o.Selector, "selector", "", "A label selector to use for this service. Only equality-based selector requirements are supported. If empty (the default) infer the selector from the pod's labels.")
	fl.StringVarP(&o.Labels, "labels", "l", "", "Labels to apply to the service created by this call, comma-separated key=value pairs. If empty (the default) the labels of the exposed pod or service.")
	fl.StringVar(&o.Type, "type", "", "Type for this service: ClusterIP (the only type skiff supports). Default is 'ClusterIP'.")
	fl.StringVar(&o.ClusterIP, "cluster-ip", "", "ClusterIP to be assigned to the service. Leave empty to auto-allocate, or set to 'None' to create a headless service.")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format. One of: (json, name, yaml).")
	addDryRunFlag(cmd, &o.DryRunFlag)
	return cmd
}

// Complete parses the resource argument and flags.
func (o *ExposeOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf(cmd.CommandPath(), "You must provide one or more resources by argument or filename.")
	}
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	if len(targets) != 1 || len(targets[0].names) != 1 {
		return usageErrorf(cmd.CommandPath(), "expose takes one resource: TYPE NAME or TYPE/NAME")
	}
	o.target = targets[0]
	switch o.target.res.Name {
	case api.Pods.Name, api.Services.Name:
	default:
		return fmt.Errorf("cannot expose a %s", o.target.res.Kind)
	}
	if o.dryRun, err = parseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	if o.labels, err = parseServiceLabels(o.Labels); err != nil {
		return err
	}
	switch o.Output {
	case "", "yaml", "json", "name":
	default:
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.Output)
	}
	o.namespace, _ = o.f.Namespace()
	return nil
}

// Run reads the exposed object, builds the service and creates it.
func (o *ExposeOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	name := o.target.names[0]
	var selector, labels map[string]string
	var podPorts []corev1.ContainerPort
	var svcPorts []corev1.ServicePort
	switch o.target.res.Name {
	case api.Pods.Name:
		var pod corev1.Pod
		if err := c.Get(ctx, api.Pods, o.namespace, name, &pod); err != nil {
			return err
		}
		selector, labels = pod.Labels, pod.Labels
		for _, ctr := range pod.Spec.Containers {
			podPorts = append(podPorts, ctr.Ports...)
		}
	case api.Services.Name:
		var svc corev1.Service
		if err := c.Get(ctx, api.Services, o.namespace, name, &svc); err != nil {
			return err
		}
		selector, labels = svc.Spec.Selector, svc.Labels
		svcPorts = svc.Spec.Ports
	}
	if o.Selector != "" {
		if selector, err = parseLabels(o.Selector); err != nil {
			return err
		}
	}
	if len(selector) == 0 {
		if o.target.res.Name == api.Pods.Name {
			return fmt.Errorf("couldn't retrieve selectors via --selector flag or introspection: the pod has no labels and cannot be exposed")
		}
		return fmt.Errorf("couldn't retrieve selectors via --selector flag or introspection: the service has no pod selector set")
	}
	if o.labels != nil {
		labels = o.labels
	}
	svc, err := o.service(name, selector, labels, podPorts, svcPorts)
	if err != nil {
		return err
	}
	if o.dryRun == DryRunClient {
		return printTyped(o.Out, o.Output, svc, "service", svc.Name, o.dryRun.operation("exposed"))
	}
	create := c.Create
	if o.dryRun == DryRunServer {
		create = c.CreateDryRun
	}
	if err := create(ctx, api.Services, o.namespace, svc); err != nil {
		return err
	}
	return printTyped(o.Out, o.Output, svc, "service", svc.Name, o.dryRun.operation("exposed"))
}

// service builds the Service: ports from --port, else those of the exposed
// object, as kubectl's service generator does.
func (o *ExposeOptions) service(name string, selector, labels map[string]string, podPorts []corev1.ContainerPort, svcPorts []corev1.ServicePort) (*corev1.Service, error) {
	if o.Name != "" {
		name = o.Name
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(labels)},
		Spec: corev1.ServiceSpec{
			Selector:  maps.Clone(selector),
			Type:      corev1.ServiceType(o.Type),
			ClusterIP: o.ClusterIP,
		},
	}
	protocol := corev1.Protocol(o.Protocol)
	switch {
	case o.Port != "":
		port, err := strconv.Atoi(o.Port)
		if err != nil {
			return nil, fmt.Errorf("invalid port %q: %w", o.Port, err)
		}
		if protocol == "" {
			protocol = corev1.ProtocolTCP
		}
		svc.Spec.Ports = []corev1.ServicePort{{Port: int32(port), Protocol: protocol}}
	case len(svcPorts) > 0:
		for _, p := range svcPorts {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: p.Port, Protocol: p.Protocol, TargetPort: p.TargetPort})
		}
	case len(podPorts) > 0:
		for i, p := range podPorts {
			sp := corev1.ServicePort{Port: p.ContainerPort, Protocol: p.Protocol}
			if len(podPorts) > 1 {
				sp.Name = fmt.Sprintf("port-%d", i+1)
			}
			if sp.Protocol == "" {
				sp.Protocol = corev1.ProtocolTCP
			}
			if protocol != "" {
				sp.Protocol = protocol
			}
			svc.Spec.Ports = append(svc.Spec.Ports, sp)
		}
	default:
		return nil, fmt.Errorf("couldn't find port via --port flag or introspection")
	}
	if o.TargetPort != "" {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].TargetPort = intstr.Parse(o.TargetPort)
		}
	}
	return svc, nil
}

// parseServiceLabels parses --labels, comma-separated key=value pairs;
// an error names the pair at fault. "" is nil: no --labels.
func parseServiceLabels(spec string) (map[string]string, error) {
	if spec == "" {
		return nil, nil
	}
	labels := map[string]string{}
	for _, pair := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.Contains(v, "=") {
			return nil, fmt.Errorf("invalid label %q in --labels: want key=value pairs separated by commas, e.g. app=web,tier=front", pair)
		}
		if k == "" {
			return nil, fmt.Errorf("invalid label %q in --labels: empty key", pair)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("invalid label %q in --labels: key %q: %s", pair, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("invalid label %q in --labels: value %q: %s", pair, v, strings.Join(errs, "; "))
		}
		labels[k] = v
	}
	return labels, nil
}
