package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/describe"
)

// DescribeOptions are the options of `skiffctl describe`.
type DescribeOptions struct {
	IOStreams
	f Factory

	AllNamespaces bool
	LabelSelector string
	ShowEvents    bool

	targets   []target
	namespace string
}

// NewCmdDescribe returns `skiffctl describe`.
func NewCmdDescribe(f Factory, streams IOStreams) *cobra.Command {
	o := &DescribeOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "describe (TYPE [NAME_PREFIX | -l label] | TYPE/NAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Show details of a specific resource or group of resources",
		Example: `  # Describe a pod
  skiffctl describe pod nginx

  # Describe a node
  skiffctl describe node worker-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.")
	cmd.Flags().StringVarP(&o.LabelSelector, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2).")
	cmd.Flags().BoolVar(&o.ShowEvents, "show-events", true, "If true, display events related to the described object.")
	return cmd
}

// Complete parses the resource arguments.
func (o *DescribeOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf(cmd.CommandPath(), "Required resource not specified.")
	}
	var err error
	if o.targets, err = parseTargets(args); err != nil {
		return err
	}
	for _, t := range o.targets {
		switch t.res.Name {
		case api.Pods.Name, api.Nodes.Name, api.ConfigMaps.Name, api.Secrets.Name, api.Services.Name:
		default:
			return fmt.Errorf("no description has been implemented for %s", t.res.Kind)
		}
	}
	o.namespace, _ = o.f.Namespace()
	return nil
}

// Run describes every object named (names match as prefixes when no object
// has the exact name, as kubectl does).
func (o *DescribeOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var errs []error
	first := true
	for _, t := range o.targets {
		raws, ferrs := o.find(ctx, c, t)
		errs = append(errs, ferrs...)
		for _, raw := range raws {
			text, err := o.describe(ctx, c, t.res, raw)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if !first {
				fmt.Fprint(o.Out, "\n\n")
			}
			first = false
			fmt.Fprint(o.Out, text)
		}
	}
	if first && len(errs) == 0 {
		o.noneFound()
	}
	return errors.Join(errs...)
}

func (o *DescribeOptions) noneFound() {
	if o.AllNamespaces {
		fmt.Fprintln(o.ErrOut, "No resources found")
		return
	}
	fmt.Fprintf(o.ErrOut, "No resources found in %s namespace.\n", o.namespace)
}

func (o *DescribeOptions) namespaceFor(res api.Resource) string {
	if !res.Namespaced || o.AllNamespaces {
		return ""
	}
	return o.namespace
}

// find returns the objects a target names: exact names first, else every
// object whose name starts with the given one.
func (o *DescribeOptions) find(ctx context.Context, c *client.Client, t target) ([][]byte, []error) {
	ns := o.namespaceFor(t.res)
	if len(t.names) == 0 {
		raws, _, err := c.ListRaw(ctx, t.res, ns, client.ListOptions{LabelSelector: o.LabelSelector})
		if err != nil {
			return nil, []error{err}
		}
		return raws, nil
	}
	var out [][]byte
	var errs []error
	for _, name := range t.names {
		raw, err := c.GetRaw(ctx, t.res, ns, name)
		if err == nil {
			out = append(out, raw)
			continue
		}
		if !apierrors.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		matched, lerr := o.byPrefix(ctx, c, t.res, ns, name)
		if lerr != nil || len(matched) == 0 {
			errs = append(errs, err)
			continue
		}
		out = append(out, matched...)
	}
	return out, errs
}

func (o *DescribeOptions) byPrefix(ctx context.Context, c *client.Client, res api.Resource, ns, prefix string) ([][]byte, error) {
	raws, _, err := c.ListRaw(ctx, res, ns, client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, raw := range raws {
		if strings.HasPrefix(objectName(raw), prefix) {
			out = append(out, raw)
		}
	}
	return out, nil
}

func (o *DescribeOptions) describe(ctx context.Context, c *client.Client, res api.Resource, raw []byte) (string, error) {
	switch res.Name {
	case api.Pods.Name:
		var pod corev1.Pod
		if err := json.Unmarshal(raw, &pod); err != nil {
			return "", fmt.Errorf("decode pod: %w", err)
		}
		evs := o.events(ctx, c, pod.Namespace, "Pod", pod.Name, string(pod.UID))
		return describe.Pod(&pod, evs, o.f.Now()), nil
	case api.Nodes.Name:
		var node corev1.Node
		if err := json.Unmarshal(raw, &node); err != nil {
			return "", fmt.Errorf("decode node: %w", err)
		}
		pods, err := nodePods(ctx, c, node.Name)
		if err != nil {
			return "", fmt.Errorf("node %q: list its pods: %w", node.Name, err)
		}
		var lease describe.NodeLease
		var l coordinationv1.Lease
		if lease.Err = c.Get(ctx, api.Leases, api.NodeLeaseNamespace, node.Name, &l); lease.Err == nil {
			lease.Lease = &l
		}
		evs := o.events(ctx, c, "", "Node", node.Name, string(node.UID))
		return describe.Node(&node, lease, pods, evs, o.f.Now()), nil
	case api.ConfigMaps.Name:
		var cm corev1.ConfigMap
		if err := json.Unmarshal(raw, &cm); err != nil {
			return "", fmt.Errorf("decode configmap: %w", err)
		}
		evs := o.events(ctx, c, cm.Namespace, "ConfigMap", cm.Name, string(cm.UID))
		return describe.ConfigMap(&cm, evs, o.f.Now()), nil
	case api.Secrets.Name:
		var s corev1.Secret
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("decode secret: %w", err)
		}
		return describe.Secret(&s), nil
	case api.Services.Name:
		var svc corev1.Service
		if err := json.Unmarshal(raw, &svc); err != nil {
			return "", fmt.Errorf("decode service: %w", err)
		}
		ep, _ := c.GetRaw(ctx, api.Endpoints, svc.Namespace, svc.Name) // none yet: no endpoints
		evs := o.events(ctx, c, svc.Namespace, "Service", svc.Name, string(svc.UID))
		return describe.Service(&svc, ep, evs, o.f.Now()), nil
	}
	return "", fmt.Errorf("no description has been implemented for %s", res.Kind)
}

// events reads the events about one object; like kubectl it leaves the
// section out rather than failing when they cannot be read.
func (o *DescribeOptions) events(ctx context.Context, c *client.Client, ns, kind, name, uid string) []corev1.Event {
	if !o.ShowEvents {
		return nil
	}
	all, _, err := client.List[corev1.Event](ctx, c, api.Events, ns, client.ListOptions{})
	if err != nil {
		return nil
	}
	return describe.EventsFor(all, kind, ns, name, uid)
}

// nodePods are the pods bound to a node that have not finished.
func nodePods(ctx context.Context, c *client.Client, node string) ([]corev1.Pod, error) {
	all, _, err := client.List[corev1.Pod](ctx, c, api.Pods, "", client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range all {
		if p.Spec.NodeName == node && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out, nil
}
