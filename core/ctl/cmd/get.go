package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// GetOptions are the options of `skiffctl get`.
type GetOptions struct {
	IOStreams
	f Factory

	Output         string
	NoHeaders      bool
	LabelSelector  string
	FieldSelector  string
	AllNamespaces  bool
	Watch          bool
	WatchOnly      bool
	IgnoreNotFound bool

	targets   []target
	namespace string
	objects   printers.ObjectPrinter // nil for table output
}

// NewCmdGet returns `skiffctl get`.
func NewCmdGet(f Factory, streams IOStreams) *cobra.Command {
	o := &GetOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "get [(-o|--output=)json|yaml|name|wide|custom-columns=...|jsonpath=...] (TYPE[,TYPE...] [NAME ...] | TYPE/NAME ...) [flags]",
		DisableFlagsInUseLine: true,
		Short:                 "Display one or many resources",
		Example: `  # List all pods in ps output format
  skiffctl get pods

  # List a single pod in JSON output format
  skiffctl get -o json pod web-pod-13je7

  # Watch pods as they change
  skiffctl get pods -w`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Output, "output", "o", "", "Output format. One of: (custom-columns, json, jsonpath, name, wide, yaml).")
	fl.BoolVar(&o.NoHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	fl.StringVarP(&o.LabelSelector, "selector", "l", "", "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2).")
	fl.StringVar(&o.FieldSelector, "field-selector", "", "Selector (field query) to filter on, supports '=', '==', and '!='.(e.g. --field-selector key1=value1,key2=value2).")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "If present, list the requested object(s) across all namespaces. Namespace in current context is ignored even if specified with --namespace.")
	fl.BoolVarP(&o.Watch, "watch", "w", false, "After listing/getting the requested object, watch for changes.")
	fl.BoolVar(&o.WatchOnly, "watch-only", false, "Watch for changes to the requested object(s), without listing/getting first.")
	fl.BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "If set to true, suppresses NotFound error for specific objects that do not exist.")
	return cmd
}

// Complete resolves the resource arguments, namespace and printer.
func (o *GetOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(o.ErrOut, "You must specify the type of resource to get. Supported types: %s.\n\n", supportedTypes())
		return usageErrorf(cmd.CommandPath(), "Required resource not specified.")
	}
	targets, err := parseTargets(args)
	if err != nil {
		return err
	}
	o.targets = targets
	o.namespace, _ = o.f.Namespace()
	if !printers.IsTableFormat(o.Output) {
		o.objects, err = printers.NewObjectPrinter(o.Output, o.NoHeaders)
	}
	return err
}

func supportedTypes() string {
	names := make([]string, len(api.All))
	for i, r := range api.All {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// Validate checks flag combinations as kubectl does.
func (o *GetOptions) Validate(cmd *cobra.Command) error {
	for _, t := range o.targets {
		if len(t.names) == 0 {
			continue
		}
		if o.LabelSelector != "" || o.FieldSelector != "" {
			return fmt.Errorf("name cannot be provided when a selector is specified")
		}
		if o.AllNamespaces && t.res.Namespaced {
			return fmt.Errorf("a resource cannot be retrieved by name across all namespaces")
		}
	}
	if (o.Watch || o.WatchOnly) && len(o.targets) != 1 {
		return fmt.Errorf("you may only specify a single resource type")
	}
	return nil
}

// Run lists or watches.
func (o *GetOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	if o.Watch || o.WatchOnly {
		return o.watch(ctx, c)
	}
	var results []fetched
	var errs []error
	for _, t := range o.targets {
		raws, ferrs := o.fetch(ctx, c, t)
		results = append(results, fetched{target: t, raws: raws})
		errs = append(errs, ferrs...)
	}
	if o.objects != nil {
		return o.printObjects(results, errs)
	}
	return o.printTables(results, errs)
}

// fetched are the objects read for one target.
type fetched struct {
	target
	raws [][]byte
}

func (o *GetOptions) namespaceFor(res api.Resource) string {
	if !res.Namespaced || o.AllNamespaces {
		return ""
	}
	return o.namespace
}

func (o *GetOptions) listOptions() client.ListOptions {
	return client.ListOptions{LabelSelector: o.LabelSelector, FieldSelector: o.FieldSelector}
}

// fetch lists a target, or gets each of its names; a name that fails does
// not stop the others.
func (o *GetOptions) fetch(ctx context.Context, c *client.Client, t target) ([][]byte, []error) {
	ns := o.namespaceFor(t.res)
	if len(t.names) == 0 {
		raws, _, err := c.ListRaw(ctx, t.res, ns, o.listOptions())
		if err != nil {
			return nil, []error{err}
		}
		return raws, nil
	}
	var raws [][]byte
	var errs []error
	for _, name := range t.names {
		raw, err := c.GetRaw(ctx, t.res, ns, name)
		switch {
		case err == nil:
			raws = append(raws, raw)
		case apierrors.IsNotFound(err) && o.IgnoreNotFound:
		default:
			errs = append(errs, err)
		}
	}
	return raws, errs
}

// printTables prints one table per resource type, blank-line separated.
func (o *GetOptions) printTables(results []fetched, errs []error) error {
	out := &countingWriter{w: o.Out}
	multiKind := distinctKinds(results) > 1
	for _, r := range results {
		table, err := tableFor(r.res, r.raws, o.f.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(table.Rows) == 0 {
			continue
		}
		if out.n > 0 && !o.NoHeaders {
			fmt.Fprintln(out)
		}
		p := &printers.TablePrinter{Options: o.tableOptions(r.res, multiKind)}
		tw := printers.NewTabWriter(out)
		if err := p.Print(tw, table); err != nil {
			return err
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if out.n == 0 && !o.IgnoreNotFound && len(errs) == 0 {
		o.noResourcesFound()
	}
	return errors.Join(errs...)
}

func (o *GetOptions) tableOptions(res api.Resource, withKind bool) printers.TableOptions {
	opts := printers.TableOptions{
		Wide:          o.Output == "wide",
		NoHeaders:     o.NoHeaders,
		WithNamespace: o.AllNamespaces && res.Namespaced,
	}
	if withKind {
		opts.Kind = res.QualifiedKind()
	}
	return opts
}

func (o *GetOptions) noResourcesFound() {
	for _, t := range o.targets {
		if !t.res.Namespaced || o.AllNamespaces {
			fmt.Fprintln(o.ErrOut, "No resources found")
			return
		}
	}
	fmt.Fprintf(o.ErrOut, "No resources found in %s namespace.\n", o.namespace)
}

func distinctKinds(results []fetched) int {
	kinds := map[string]bool{}
	for _, r := range results {
		if len(r.raws) > 0 {
			kinds[r.res.Kind] = true
		}
	}
	return len(kinds)
}

// printObjects prints -o yaml/json/name/jsonpath/custom-columns: the object
// itself when one was asked for by name, else a v1 List of everything.
func (o *GetOptions) printObjects(results []fetched, errs []error) error {
	var objs []printers.Object
	for _, r := range results {
		for _, raw := range r.raws {
			obj, err := printers.DecodeObject(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.res.Kind, err))
				continue
			}
			objs = append(objs, withTypeMeta(obj, r.res))
		}
	}
	single := len(o.targets) == 1 && len(o.targets[0].names) == 1
	if single && len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(objs) == 0 && o.IgnoreNotFound {
		return errors.Join(errs...)
	}
	var err error
	if single && len(objs) == 1 {
		err = o.objects.PrintObject(o.Out, objs[0])
	} else {
		err = o.printList(objs)
	}
	return errors.Join(append(errs, err)...)
}

func (o *GetOptions) printList(objs []printers.Object) error {
	if _, isCols := o.objects.(*printers.CustomColumnsPrinter); isCols {
		tw := printers.NewTabWriter(o.Out)
		if err := o.objects.PrintObject(tw, printers.NewList(objs)); err != nil {
			return err
		}
		return tw.Flush()
	}
	return o.objects.PrintObject(o.Out, printers.NewList(objs))
}

// countingWriter counts what was written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}
