package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

// DefaultContainerAnnotation names the container logs (and later exec)
// pick when a pod has several and none is given.
const DefaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

const logsUsage = "expected 'logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]'.\nPOD or TYPE/NAME is a required argument for the logs command"

// LogsOptions are the options of `skiffctl logs`.
type LogsOptions struct {
	IOStreams
	f Factory

	Container  string
	Follow     bool
	Previous   bool
	Tail       int64
	Timestamps bool

	pod       string
	namespace string
}

// NewCmdLogs returns `skiffctl logs`.
func NewCmdLogs(f Factory, streams IOStreams) *cobra.Command {
	o := &LogsOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER]",
		DisableFlagsInUseLine: true,
		Short:                 "Print the logs for a container in a pod",
		Example: `  # Return snapshot logs from pod nginx with only one container
  skiffctl logs nginx

  # Begin streaming the logs of the ruby container in pod web-1
  skiffctl logs -f -c ruby web-1

  # Show the last 20 lines of the previous instance of the container
  skiffctl logs -p --tail=20 nginx`,
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
	fl.StringVarP(&o.Container, "container", "c", "", "Print the logs of this container")
	fl.BoolVarP(&o.Follow, "follow", "f", false, "Specify if the logs should be streamed.")
	fl.BoolVarP(&o.Previous, "previous", "p", false, "If true, print the logs for the previous instance of the container in a pod if it exists.")
	fl.Int64Var(&o.Tail, "tail", -1, "Lines of recent log file to display. Defaults to -1, showing all log lines.")
	fl.BoolVar(&o.Timestamps, "timestamps", false, "Include timestamps on each line in the log output")
	return cmd
}

// Complete reads POD [CONTAINER].
func (o *LogsOptions) Complete(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 1:
	case 2:
		if o.Container != "" {
			return fmt.Errorf("only one of -c or an inline [CONTAINER] arg is allowed")
		}
		o.Container = args[1]
	default:
		return usageErrorf(cmd.CommandPath(), "%s", logsUsage)
	}
	pod, err := podArg(args[0])
	if err != nil {
		return err
	}
	o.pod = pod
	o.namespace, _ = o.f.Namespace()
	return nil
}

// podArg accepts NAME or pod/NAME.
func podArg(arg string) (string, error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	res, err := api.Lookup(typ)
	if err != nil {
		return "", err
	}
	if res.Name != api.Pods.Name {
		return "", fmt.Errorf("cannot get the logs from %s", res.Kind)
	}
	return name, nil
}

// Validate checks --tail.
func (o *LogsOptions) Validate() error {
	if o.Tail < -1 {
		return fmt.Errorf("--tail must be greater than or equal to -1")
	}
	return nil
}

// Run picks the container and streams its log to Out.
func (o *LogsOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var pod corev1.Pod
	if err := c.Get(ctx, api.Pods, o.namespace, o.pod, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			// kubectl's own wording; a plain error so it is not prefixed twice.
			return fmt.Errorf("error from server (NotFound): %v in namespace %q", err, o.namespace)
		}
		return err
	}
	container, err := o.pickContainer(&pod)
	if err != nil {
		return err
	}
	err = c.Logs(ctx, &apipb.LogsRequest{
		Namespace: o.namespace, Pod: o.pod, Container: container,
		Follow: o.Follow, Previous: o.Previous, TailLines: o.Tail, Timestamps: o.Timestamps,
	}, o.Out)
	if err != nil && ctx.Err() != nil {
		return nil // interrupted while following
	}
	return err
}

// pickContainer returns -c, else the default-container annotation, else
// the only container; a pod with several and no choice is an error.
func (o *LogsOptions) pickContainer(pod *corev1.Pod) (string, error) {
	name := o.Container
	if name == "" {
		if def := pod.Annotations[DefaultContainerAnnotation]; def != "" {
			if hasContainer(pod, def) {
				name = def
			} else {
				fmt.Fprintf(o.ErrOut, "Default container name %q not found in pod %s\n", def, pod.Name)
			}
		}
	}
	if name == "" {
		if len(pod.Spec.Containers) != 1 {
			return "", chooseContainerError(pod)
		}
		name = pod.Spec.Containers[0].Name
	}
	if !hasContainer(pod, name) {
		return "", fmt.Errorf("container %s is not valid for pod %s", name, pod.Name)
	}
	return name, nil
}

func chooseContainerError(pod *corev1.Pod) error {
	msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]",
		pod.Name, containerNames(pod.Spec.Containers))
	if len(pod.Spec.InitContainers) > 0 {
		msg += fmt.Sprintf(" or one of the init containers: [%s]", containerNames(pod.Spec.InitContainers))
	}
	return fmt.Errorf("%s", msg)
}

func containerNames(cs []corev1.Container) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return true
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
