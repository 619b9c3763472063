package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/manifest"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// ApplyOptions are the options of `skiffctl apply`.
type ApplyOptions struct {
	IOStreams
	f Factory

	Filenames []string

	namespace  string
	explicitNS bool
}

// NewCmdApply returns `skiffctl apply`.
func NewCmdApply(f Factory, streams IOStreams) *cobra.Command {
	o := &ApplyOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "apply (-f FILENAME)",
		DisableFlagsInUseLine: true,
		Short:                 "Apply a configuration to a resource by file name or stdin",
		Long: `Apply a configuration to a resource by file name or stdin. The resource is
created if it does not exist yet. YAML and JSON are accepted; a file may hold
several documents separated by "---".`,
		Example: `  # Apply the configuration in pod.yaml
  skiffctl apply -f ./pod.yaml

  # Apply every manifest of a directory
  skiffctl apply -f ./manifests/

  # Apply the YAML passed into stdin
  cat pod.yaml | skiffctl apply -f -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(cmd); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringArrayVarP(&o.Filenames, "filename", "f", nil, "The files that contain the configurations to apply (a file, a directory of *.yaml/*.yml/*.json, or - for stdin).")
	return cmd
}

// Complete resolves the namespace.
func (o *ApplyOptions) Complete() error {
	o.namespace, o.explicitNS = o.f.Namespace()
	return nil
}

// Validate requires -f.
func (o *ApplyOptions) Validate(cmd *cobra.Command) error {
	if len(o.Filenames) == 0 {
		return usageErrorf(cmd.CommandPath(), "must specify one of -f and -k")
	}
	return nil
}

// Run applies every document; a failing one does not stop the others, and
// all failures are returned together.
func (o *ApplyOptions) Run(ctx context.Context) error {
	docs, err := manifest.Read(o.Filenames, o.In)
	if err != nil {
		return err
	}
	if len(docs) == 0 {
		return fmt.Errorf("no objects passed to apply")
	}
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range docs {
		if err := o.applyOne(ctx, c, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *ApplyOptions) applyOne(ctx context.Context, c *client.Client, d manifest.Document) error {
	if d.Err != nil {
		return d.Err
	}
	ref, err := resolveDocument(d, o.namespace, o.explicitNS)
	if err != nil {
		return err
	}
	// Someone else may change the object between our read and our write
	// (the update is compare-and-swap): read again and retry, as kubectl
	// does with its patches.
	for attempt := 1; ; attempt++ {
		liveRaw, err := c.GetRaw(ctx, ref.res, ref.namespace, ref.name)
		if apierrors.IsNotFound(err) {
			err = o.create(ctx, c, d, ref)
		} else if err != nil {
			return withSource("retrieving current configuration of "+ref.String()+" from server for", d.Source, err)
		} else {
			err = o.update(ctx, c, d, ref, liveRaw, attempt == 1)
		}
		retry := apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
		if !retry || attempt == maxApplyAttempts {
			return err
		}
	}
}

// maxApplyAttempts bounds the read-modify-write retries of one apply.
const maxApplyAttempts = 5

func (o *ApplyOptions) create(ctx context.Context, c *client.Client, d manifest.Document, ref objectRef) error {
	obj, err := manifest.PrepareCreate(d.Object)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if err := c.Create(ctx, ref.res, ref.namespace, &obj); err != nil {
		return withSource("creating", d.Source, err)
	}
	fmt.Fprintf(o.Out, "%s created\n", ref.kindName())
	return nil
}

// update sends live merged with the manifest, unless nothing would change.
func (o *ApplyOptions) update(ctx context.Context, c *client.Client, d manifest.Document, ref objectRef, liveRaw []byte, warn bool) error {
	live, err := printers.DecodeObject(liveRaw)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	original, err := lastApplied(live)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	if original == nil && warn {
		fmt.Fprintf(o.ErrOut, "Warning: resource %s/%s is missing the %s annotation which is required by skiffctl apply. "+
			"skiffctl apply should only be used on resources created declaratively by skiffctl apply. "+
			"The missing annotation will be patched automatically.\n", ref.res.Name, ref.name, manifest.LastAppliedAnnotation)
	}
	la, err := manifest.LastApplied(d.Object)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	desired := d.Object
	manifest.SetAnnotation(desired, manifest.LastAppliedAnnotation, la)
	if manifest.Unchanged(live, desired) {
		fmt.Fprintf(o.Out, "%s unchanged\n", ref.kindName())
		return nil
	}
	merged := manifest.Merge(live, desired, original)
	if err := c.Update(ctx, ref.res, ref.namespace, &merged, ""); err != nil {
		return withSource("applying", d.Source, err)
	}
	fmt.Fprintf(o.Out, "%s configured\n", ref.kindName())
	return nil
}

// lastApplied decodes the manifest a previous apply stored on live, or nil.
func lastApplied(live map[string]any) (map[string]any, error) {
	s := manifest.Annotation(live, manifest.LastAppliedAnnotation)
	if s == "" {
		return nil, nil
	}
	m, err := printers.DecodeObject([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", manifest.LastAppliedAnnotation, err)
	}
	return m, nil
}

// objectRef names the object a manifest document is about.
type objectRef struct {
	res       api.Resource
	namespace string
	name      string
}

func (r objectRef) String() string {
	if r.res.Namespaced {
		return fmt.Sprintf("%s %q in %q", strings.ToLower(r.res.Kind), r.name, r.namespace)
	}
	return fmt.Sprintf("%s %q", strings.ToLower(r.res.Kind), r.name)
}

func (r objectRef) kindName() string { return r.res.QualifiedKind() + "/" + r.name }

// resolveDocument finds the resource, name and namespace of a document and
// writes the namespace into it (kubectl's last-applied records it).
func resolveDocument(d manifest.Document, defaultNS string, explicitNS bool) (objectRef, error) {
	m := manifest.MetaOf(d.Object)
	if m.Kind == "" || m.APIVersion == "" {
		field := "Kind"
		if m.Kind != "" {
			field = "apiVersion"
		}
		return objectRef{}, fmt.Errorf("unable to decode %q (document %d): Object '%s' is missing", d.Source, d.Index, field)
	}
	ns := m.Namespace
	if ns == "" {
		ns = defaultNS
	}
	res, err := api.ForAPIVersionKind(m.APIVersion, m.Kind)
	if err != nil {
		return objectRef{}, fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: no matches for kind %q in version %q",
			m.Name, m.Namespace, d.Source, m.Kind, m.APIVersion)
	}
	if m.Name == "" {
		return objectRef{}, fmt.Errorf("error when retrieving current configuration of %s from %q (document %d): resource name may not be empty",
			res.Kind, d.Source, d.Index)
	}
	md := d.Object["metadata"].(map[string]any)
	if !res.Namespaced {
		delete(md, "namespace")
		return objectRef{res: res, name: m.Name}, nil
	}
	if explicitNS && m.Namespace != "" && m.Namespace != defaultNS {
		//lint:ignore ST1005 kubectl's exact wording
		return objectRef{}, fmt.Errorf("the namespace from the provided object %q does not match the namespace %q. You must pass '--namespace=%s' to perform this operation.",
			m.Namespace, defaultNS, m.Namespace)
	}
	md["namespace"] = ns
	return objectRef{res: res, namespace: ns, name: m.Name}, nil
}
