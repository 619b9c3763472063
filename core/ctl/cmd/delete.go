package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/manifest"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// DeleteOptions are the options of `skiffctl delete`.
type DeleteOptions struct {
	IOStreams
	f Factory

	Filenames      []string
	All            bool
	AllNamespaces  bool
	LabelSelector  string
	FieldSelector  string
	GracePeriod    int
	Force          bool
	Now            bool
	Wait           bool
	Timeout        time.Duration
	IgnoreNotFound bool
	Output         string

	// PollInterval is how often --wait checks that objects are gone.
	PollInterval time.Duration

	targets   []target
	docs      []manifest.Document
	namespace string
	explicit  bool
}

// NewCmdDelete returns `skiffctl delete`.
func NewCmdDelete(f Factory, streams IOStreams) *cobra.Command {
	o := &DeleteOptions{IOStreams: streams, f: f, PollInterval: 200 * time.Millisecond}
	cmd := &cobra.Command{
		Use:                   "delete ([-f FILENAME] | TYPE [(NAME | -l label | --all)])",
		DisableFlagsInUseLine: true,
		Short:                 "Delete resources by file names, stdin, resources and names, or by resources and label selector",
		Example: `  # Delete a pod, waiting for its containers to stop
  skiffctl delete pod nginx

  # Delete a pod at once, without waiting for the node
  skiffctl delete pod nginx --grace-period=0 --force

  # Delete the pods of a manifest
  skiffctl delete -f ./pod.yaml`,
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
	fl.StringArrayVarP(&o.Filenames, "filename", "f", nil, "The files that contain the resources to delete.")
	fl.BoolVar(&o.All, "all", false, "Delete all resources, in the namespace of the specified resource types.")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.")
	fl.StringVarP(&o.LabelSelector, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2).")
	fl.StringVar(&o.FieldSelector, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.")
	fl.IntVar(&o.GracePeriod, "grace-period", -1, "Period of time in seconds given to the resource to terminate gracefully. Ignored if negative. Set to 1 for immediate shutdown. Can only be set to 0 when --force is true (force deletion).")
	fl.BoolVar(&o.Force, "force", false, "If true, immediately remove resources from API and bypass graceful deletion. Note that immediate deletion of some resources may result in inconsistency or data loss and requires confirmation.")
	fl.BoolVar(&o.Now, "now", false, "If true, resources are signaled for immediate shutdown (same as --grace-period=1).")
	fl.BoolVar(&o.Wait, "wait", true, "If true, wait for resources to be gone before returning. This waits for finalizers.")
	fl.DurationVar(&o.Timeout, "timeout", 0, "The length of time to wait before giving up on a delete, zero means wait as long as it takes.")
	fl.BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "Treat \"resource not found\" as a successful delete. Defaults to \"true\" when --all is specified.")
	fl.StringVarP(&o.Output, "output", "o", "", "Output mode. Use \"-o name\" for shorter output (resource/name).")
	return cmd
}

// Complete resolves what to delete and normalises the grace period as
// kubectl does.
func (o *DeleteOptions) Complete(cmd *cobra.Command, args []string) error {
	o.namespace, o.explicit = o.f.Namespace()
	if (o.All || o.LabelSelector != "" || o.FieldSelector != "") && !cmd.Flags().Changed("ignore-not-found") {
		o.IgnoreNotFound = true
	}
	if o.Now {
		if o.GracePeriod != -1 {
			return fmt.Errorf("--now and --grace-period cannot be specified together")
		}
		o.GracePeriod = 1
	}
	if o.GracePeriod == 0 && !o.Force {
		o.GracePeriod = 1 // only --force may skip the grace period
	}
	if o.Force && o.GracePeriod < 0 {
		o.GracePeriod = 0
	}
	var err error
	if len(o.Filenames) > 0 {
		if len(args) > 0 {
			return usageErrorf(cmd.CommandPath(), "resources may not be given both as arguments and with -f")
		}
		o.docs, err = manifest.Read(o.Filenames, o.In)
		return err
	}
	if len(args) == 0 {
		//lint:ignore ST1005 kubectl's exact wording
		return fmt.Errorf("You must provide one or more resources by argument or filename.\nExample resource specifications include:\n   '-f rsrc.yaml'\n   '--filename=rsrc.json'\n   '<resource> <name>'\n   '<resource>'")
	}
	o.targets, err = parseTargets(args)
	return err
}

// Validate checks flag combinations and warns about forced deletion.
func (o *DeleteOptions) Validate() error {
	if o.Output != "" && o.Output != "name" {
		return fmt.Errorf("unexpected -o output mode: %v. We only support '-o name'", o.Output)
	}
	if o.All && o.LabelSelector != "" {
		return fmt.Errorf("cannot set --all and --selector at the same time")
	}
	if o.All && o.FieldSelector != "" {
		return fmt.Errorf("cannot set --all and --field-selector at the same time")
	}
	for _, t := range o.targets {
		bulk := o.All || o.LabelSelector != "" || o.FieldSelector != ""
		if len(t.names) == 0 && !bulk {
			return fmt.Errorf("resource(s) were provided, but no name was specified")
		}
		if len(t.names) > 0 && bulk {
			return fmt.Errorf("name cannot be provided when a selector is specified")
		}
	}
	switch {
	case o.GracePeriod == 0 && o.Force:
		fmt.Fprintln(o.ErrOut, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.")
	case o.GracePeriod > 0 && o.Force:
		return fmt.Errorf("--force and --grace-period greater than 0 cannot be specified together")
	}
	return nil
}

// deletion is one object to delete and where it was named.
type deletion struct {
	ref    objectRef
	source string
}

// Run deletes every object, then waits for them to be gone (--wait).
func (o *DeleteOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	todo, errs := o.resolve(ctx, c)
	var deleted []deletedObject
	for _, d := range todo {
		uid, err := o.deleteOne(ctx, c, d)
		switch {
		case err == nil:
			deleted = append(deleted, deletedObject{deletion: d, uid: uid})
		case apierrors.IsNotFound(err) && o.IgnoreNotFound:
		default:
			errs = append(errs, withSource("deleting", d.source, err))
		}
	}
	if len(deleted) == 0 && len(errs) == 0 {
		fmt.Fprintln(o.Out, "No resources found")
		return nil
	}
	if o.Wait && len(deleted) > 0 {
		if err := o.waitGone(ctx, c, deleted); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deletedObject is a deletion the server accepted, with the uid of the
// object it removes.
type deletedObject struct {
	deletion
	uid string
}

// resolve lists what the arguments, selectors or files name.
func (o *DeleteOptions) resolve(ctx context.Context, c *client.Client) ([]deletion, []error) {
	var out []deletion
	var errs []error
	for _, d := range o.docs {
		if d.Err != nil {
			errs = append(errs, d.Err)
			continue
		}
		ref, err := resolveDocument(d, o.namespace, o.explicit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, deletion{ref: ref, source: d.Source})
	}
	for _, t := range o.targets {
		ns := o.namespace
		if !t.res.Namespaced {
			ns = ""
		}
		for _, name := range t.names {
			out = append(out, deletion{ref: objectRef{res: t.res, namespace: ns, name: name}})
		}
		if len(t.names) > 0 {
			continue
		}
		if o.AllNamespaces && t.res.Namespaced {
			ns = ""
		}
		listed, err := o.list(ctx, c, t, ns)
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, listed...)
	}
	return out, errs
}

func (o *DeleteOptions) list(ctx context.Context, c *client.Client, t target, ns string) ([]deletion, error) {
	raws, _, err := c.ListRaw(ctx, t.res, ns, client.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector})
	if err != nil {
		return nil, err
	}
	var out []deletion
	for _, raw := range raws {
		obj, err := printers.DecodeObject(raw)
		if err != nil {
			return out, fmt.Errorf("%s: %w", t.res.Kind, err)
		}
		m := manifest.MetaOf(obj)
		out = append(out, deletion{ref: objectRef{res: t.res, namespace: m.Namespace, name: m.Name}})
	}
	return out, nil
}

// deleteOne deletes one object, prints it, and returns its uid.
func (o *DeleteOptions) deleteOne(ctx context.Context, c *client.Client, d deletion) (string, error) {
	raw, err := c.Delete(ctx, d.ref.res, d.ref.namespace, d.ref.name, client.DeleteOptions{
		GracePeriodSeconds: int64(o.GracePeriod),
		Force:              o.Force && o.GracePeriod == 0,
	})
	if err != nil {
		return "", err
	}
	o.printDeleted(d.ref)
	uid := ""
	if obj, err := printers.DecodeObject(raw); err == nil {
		md, _ := obj["metadata"].(map[string]any)
		uid, _ = md["uid"].(string)
	}
	return uid, nil
}

// printDeleted prints kubectl's line for a deleted object.
func (o *DeleteOptions) printDeleted(ref objectRef) {
	kind := ref.res.QualifiedKind()
	if o.Output == "name" {
		fmt.Fprintf(o.Out, "%s/%s\n", kind, ref.name)
		return
	}
	op := "deleted"
	if o.GracePeriod == 0 {
		op = "force deleted"
	}
	if ref.res.Namespaced {
		op = fmt.Sprintf("%s from %s namespace", op, ref.namespace)
	}
	fmt.Fprintf(o.Out, "%s %q %s\n", kind, ref.name, op)
}

// waitGone polls until every deleted object is gone (or replaced by a new
// object of the same name), the timeout passes or ctx ends.
func (o *DeleteOptions) waitGone(ctx context.Context, c *client.Client, objs []deletedObject) error {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	for _, d := range objs {
		if err := o.waitOne(ctx, c, d); err != nil {
			return err
		}
	}
	return nil
}

func (o *DeleteOptions) waitOne(ctx context.Context, c *client.Client, d deletedObject) error {
	ticker := time.NewTicker(o.PollInterval)
	defer ticker.Stop()
	for {
		raw, err := c.GetRaw(ctx, d.ref.res, d.ref.namespace, d.ref.name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil && d.uid != "" {
			if obj, derr := printers.DecodeObject(raw); derr == nil {
				md, _ := obj["metadata"].(map[string]any)
				if uid, _ := md["uid"].(string); uid != d.uid {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for the condition on %s/%s", d.ref.res.Name, d.ref.name)
			}
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
