package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/core/api"
)

// DryRun is a --dry-run strategy.
type DryRun string

// Dry-run strategies.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// addDryRunFlag registers kubectl's --dry-run flag.
func addDryRunFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "dry-run", "none", `Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "unchanged"
}

func parseDryRun(v string) (DryRun, error) {
	switch v {
	case "unchanged", "client", "true":
		return DryRunClient, nil
	case "server":
		return DryRunServer, nil
	case "none", "false", "":
		return DryRunNone, nil
	}
	//lint:ignore ST1005 kubectl's exact wording
	return DryRunNone, fmt.Errorf(`Invalid dry-run value (%v). Must be "none", "server", or "client".`, v)
}

// operation is what a name line says was done ("created (dry run)").
func (d DryRun) operation(op string) string {
	switch d {
	case DryRunClient:
		return op + " (dry run)"
	case DryRunServer:
		return op + " (server dry run)"
	}
	return op
}

// RunOptions are the options of `skiffctl run`.
type RunOptions struct {
	IOStreams
	f Factory

	Image           string
	ImagePullPolicy string
	Restart         string
	Env             []string
	Labels          string
	Annotations     []string
	Port            string
	Command         bool
	DryRunFlag      string
	Output          string

	name       string
	args       []string
	dryRun     DryRun
	namespace  string
	explicitNS bool
	pod        *corev1.Pod
}

// NewCmdRun returns `skiffctl run`.
func NewCmdRun(f Factory, streams IOStreams) *cobra.Command {
	o := &RunOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   `run NAME --image=image [--env="key=value"] [--port=port] [--dry-run=server|client] [--command] -- [COMMAND] [args...]`,
		DisableFlagsInUseLine: true,
		Short:                 "Run a particular image on the cluster",
		Example: `  # Start a nginx pod
  skiffctl run nginx --image=nginx

  # Start a busybox pod with a command instead of the image's entrypoint
  skiffctl run box --image=busybox --restart=Never --command -- sleep 3600`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Image, "image", "", "The image for the container to run.")
	fl.StringVar(&o.ImagePullPolicy, "image-pull-policy", "", "The image pull policy for the container.  If left empty, this value will not be specified by the client and defaulted by the server.")
	fl.StringVar(&o.Restart, "restart", "Always", "The restart policy for this Pod.  Legal values [Always, OnFailure, Never].")
	fl.StringArrayVar(&o.Env, "env", nil, "Environment variables to set in the container.")
	fl.StringVarP(&o.Labels, "labels", "l", "", "Comma separated labels to apply to the pod. Will override previous values.")
	fl.StringArrayVar(&o.Annotations, "annotations", nil, "Annotations to apply to the pod.")
	fl.StringVar(&o.Port, "port", "", "The port that this container exposes.")
	fl.BoolVar(&o.Command, "command", false, "If true and extra arguments are present, use them as the 'command' field in the container, rather than the 'args' field which is the default.")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format. One of: (json, name, yaml).")
	addDryRunFlag(cmd, &o.DryRunFlag)
	return cmd
}

// Complete parses the flags into the pod to create.
func (o *RunOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 0 || cmd.ArgsLenAtDash() == 0 {
		return fmt.Errorf("NAME is required for run")
	}
	o.name, o.args = args[0], args[1:]
	var err error
	if o.dryRun, err = parseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	o.namespace, o.explicitNS = o.f.Namespace()
	o.pod, err = o.buildPod()
	return err
}

func (o *RunOptions) buildPod() (*corev1.Pod, error) {
	labels, err := parseLabels(o.Labels)
	if err != nil {
		return nil, err
	}
	if len(labels) == 0 {
		labels = map[string]string{"run": o.name}
	}
	annotations, err := parsePairs(o.Annotations, "annotations")
	if err != nil {
		return nil, err
	}
	env, err := parseEnvs(o.Env)
	if err != nil {
		return nil, err
	}
	restart, err := restartPolicy(o.Restart)
	if err != nil {
		return nil, err
	}
	pull, err := pullPolicy(o.ImagePullPolicy)
	if err != nil {
		return nil, err
	}
	c := corev1.Container{Name: o.name, Image: o.Image, Env: env, ImagePullPolicy: pull}
	if len(o.args) > 0 {
		if o.Command {
			c.Command = o.args
		} else {
			c.Args = o.args
		}
	}
	if o.Port != "" {
		if port, err := strconv.Atoi(o.Port); err == nil {
			c.Ports = []corev1.ContainerPort{{ContainerPort: int32(port)}}
		}
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: o.name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{c},
			DNSPolicy:     corev1.DNSClusterFirst,
			RestartPolicy: restart,
		},
	}
	return pod, nil
}

// Validate checks the flags as kubectl run does.
func (o *RunOptions) Validate() error {
	if o.Image == "" {
		return fmt.Errorf("--image is required")
	}
	if !imageReference.MatchString(o.Image) {
		return fmt.Errorf("invalid image name %q: invalid reference format", o.Image)
	}
	if o.Port != "" {
		if _, err := strconv.Atoi(o.Port); err != nil {
			return fmt.Errorf("--port must be a number")
		}
	}
	switch o.Output {
	case "", "yaml", "json", "name":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.Output)
}

// Run creates the pod (unless --dry-run=client) and prints it.
func (o *RunOptions) Run(ctx context.Context) error {
	pod := o.pod
	if o.dryRun == DryRunClient {
		if o.explicitNS {
			pod.Namespace = o.namespace
		}
		return printTyped(o.Out, o.Output, pod, "pod", pod.Name, o.dryRun.operation("created"))
	}
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	create := c.Create
	if o.dryRun == DryRunServer {
		create = c.CreateDryRun
	}
	if err := create(ctx, api.Pods, o.namespace, pod); err != nil {
		return err
	}
	return printTyped(o.Out, o.Output, pod, "pod", pod.Name, o.dryRun.operation("created"))
}

// printTyped prints a typed object for -o yaml|json|name, or the
// "kind/name operation" line by default. JSON keeps the struct's field
// order, as kubectl's printer does for typed objects.
func printTyped(w io.Writer, output string, obj any, kind, name, operation string) error {
	switch output {
	case "yaml":
		data, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encode %s %q: %w", kind, name, err)
		}
		_, err = w.Write(data)
		return err
	case "json":
		data, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return fmt.Errorf("encode %s %q: %w", kind, name, err)
		}
		_, err = w.Write(append(data, '\n'))
		return err
	case "name":
		_, err := fmt.Fprintf(w, "%s/%s\n", kind, name)
		return err
	}
	_, err := fmt.Fprintf(w, "%s/%s %s\n", kind, name, operation)
	return err
}

func parseLabels(spec string) (map[string]string, error) {
	if spec == "" {
		return nil, nil
	}
	labels := map[string]string{}
	for _, part := range strings.Split(spec, ",") {
		kv := strings.Split(part, "=")
		if len(kv) != 2 {
			return nil, fmt.Errorf("unexpected label spec: %s", part)
		}
		if kv[0] == "" {
			return nil, fmt.Errorf("unexpected empty label key")
		}
		labels[kv[0]] = kv[1]
	}
	return labels, nil
}

func parsePairs(pairs []string, what string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid %s spec: %v", what, p)
		}
		out[k] = v
	}
	return out, nil
}

func parseEnvs(envs []string) ([]corev1.EnvVar, error) {
	var out []corev1.EnvVar
	for _, e := range envs {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" || len(validation.IsEnvVarName(name)) != 0 {
			return nil, fmt.Errorf("invalid env: %v", e)
		}
		out = append(out, corev1.EnvVar{Name: name, Value: value})
	}
	return out, nil
}

func restartPolicy(v string) (corev1.RestartPolicy, error) {
	if v == "" {
		return corev1.RestartPolicyAlways, nil
	}
	switch p := corev1.RestartPolicy(v); p {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
		return p, nil
	}
	return "", fmt.Errorf("invalid restart policy: %s, valid values are: Always, OnFailure, Never", v)
}

func pullPolicy(v string) (corev1.PullPolicy, error) {
	switch p := corev1.PullPolicy(v); p {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		return p, nil
	}
	return "", fmt.Errorf("invalid image pull policy: %s, valid values are: Always, IfNotPresent, Never", v)
}

// imageReference is the grammar of an image reference:
// [domain[:port]/]path[:tag][@digest].
var imageReference = func() *regexp.Regexp {
	domainPart := `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
	domain := domainPart + `(?:\.` + domainPart + `)*(?::[0-9]+)?`
	pathPart := `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
	name := `(?:` + domain + `/)?` + pathPart + `(?:/` + pathPart + `)*`
	tag := `[\w][\w.-]{0,127}`
	digest := `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	return regexp.MustCompile(`^` + name + `(?::` + tag + `)?(?:@` + digest + `)?$`)
}()
