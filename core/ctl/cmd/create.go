package cmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/skiffhq/skiff/core/api"
)

// NewCmdCreate returns `skiffctl create`, with kubectl's generators for
// ConfigMaps and Secrets.
func NewCmdCreate(f Factory, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "create (configmap | secret generic) NAME [options]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a resource from literals or files",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf(cmd.CommandPath(), "unknown resource type %q: skiffctl creates configmap and secret generic", args[0])
			}
			return usageErrorf(cmd.CommandPath(), "Required resource not specified.")
		},
	}
	secret := &cobra.Command{
		Use:   "secret (generic) NAME [options]",
		Short: "Create a secret",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf(cmd.CommandPath(), "specify the secret type: skiffctl supports generic")
		},
	}
	secret.AddCommand(newCmdCreateData(f, streams, api.Secrets))
	cmd.AddCommand(newCmdCreateData(f, streams, api.ConfigMaps), secret)
	return cmd
}

// CreateDataOptions are the options of `create configmap` and `create
// secret generic`: an object of keys from literals, files and env files.
type CreateDataOptions struct {
	IOStreams
	f   Factory
	res api.Resource

	FromLiteral []string
	FromFile    []string
	FromEnvFile []string
	Type        string
	DryRunFlag  string
	Output      string

	name       string
	dryRun     DryRun
	namespace  string
	explicitNS bool
	// data holds every key; a ConfigMap puts what is not UTF-8 in
	// binaryData.
	data map[string][]byte
}

func newCmdCreateData(f Factory, streams IOStreams, res api.Resource) *cobra.Command {
	o := &CreateDataOptions{IOStreams: streams, f: f, res: res}
	use, short, example := "configmap NAME [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
		"Create a config map from a local file, directory or literal value",
		`  # Create a config map named my-config from the files in folder bar
  skiffctl create configmap my-config --from-file=path/to/bar

  # Create a config map with a key of your choice for a file
  skiffctl create configmap my-config --from-file=key1=/path/to/bar/file1.txt

  # Create a config map from literals
  skiffctl create configmap my-config --from-literal=key1=config1 --from-literal=key2=config2`
	aliases := []string{"cm"}
	if res.Name == api.Secrets.Name {
		use, short, example = "generic NAME [--type=string] [--from-file=[key=]source] [--from-literal=key1=value1] [--dry-run=server|client|none]",
			"Create a secret from a local file, directory, or literal value",
			`  # Create a secret named my-secret with keys for each file in folder bar
  skiffctl create secret generic my-secret --from-file=path/to/bar

  # Create a secret from literals
  skiffctl create secret generic my-secret --from-literal=username=admin --from-literal=password=s3cr3t`
		aliases = nil
	}
	cmd := &cobra.Command{
		Use:                   use,
		DisableFlagsInUseLine: true,
		Aliases:               aliases,
		Short:                 short,
		Example:               example,
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
	fl.StringSliceVar(&o.FromFile, "from-file", nil, "Key file can be specified using its file path, in which case file basename will be used as the key, or optionally with a key and file path, in which case the given key will be used. Specifying a directory will iterate each named file in the directory whose basename is a valid key.")
	fl.StringArrayVar(&o.FromLiteral, "from-literal", nil, "Specify a key and literal value to insert (i.e. mykey=somevalue)")
	fl.StringSliceVar(&o.FromEnvFile, "from-env-file", nil, "Specify the path to a file to read lines of key=val pairs.")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format. One of: (json, name, yaml).")
	if res.Name == api.Secrets.Name {
		fl.StringVar(&o.Type, "type", "", "The type of secret to create (skiff supports Opaque)")
	}
	addDryRunFlag(cmd, &o.DryRunFlag)
	return cmd
}

// kind is the lower-case kind kubectl prints ("configmap/x created").
func (o *CreateDataOptions) kind() string { return strings.ToLower(o.res.Kind) }

// Complete reads the name and gathers the keys.
func (o *CreateDataOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usageErrorf(cmd.CommandPath(), "exactly one NAME is required, got %d", len(args))
	}
	o.name = args[0]
	var err error
	if o.dryRun, err = parseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	o.namespace, o.explicitNS = o.f.Namespace()
	o.data = map[string][]byte{}
	for _, lit := range o.FromLiteral {
		k, v, ok := strings.Cut(lit, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid literal source %v, expected key=value", lit)
		}
		if err := o.add(k, []byte(v)); err != nil {
			return err
		}
	}
	for _, src := range o.FromFile {
		if err := o.addFile(src); err != nil {
			return err
		}
	}
	for _, path := range o.FromEnvFile {
		if err := o.addEnvFile(path); err != nil {
			return err
		}
	}
	return nil
}

func (o *CreateDataOptions) add(key string, value []byte) error {
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return fmt.Errorf("%q is not valid key name for a %s: %s", key, o.res.Kind, strings.Join(errs, ";"))
	}
	if _, dup := o.data[key]; dup {
		return fmt.Errorf("cannot add key %q, another key by that name already exists in Data for %s %q", key, o.res.Kind, o.name)
	}
	o.data[key] = value
	return nil
}

// addFile reads --from-file=[key=]path: a file, or every regular file of a
// directory whose name is a valid key.
func (o *CreateDataOptions) addFile(src string) error {
	key, path, explicitKey := strings.Cut(src, "=")
	if !explicitKey {
		path = src
		key = filepath.Base(path)
	} else if key == "" || path == "" {
		return fmt.Errorf("key names or file paths cannot be empty: %q", src)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("error reading %s: %w", path, err)
	}
	if !fi.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("error reading %s: %w", path, err)
		}
		return o.add(key, data)
	}
	if explicitKey {
		return fmt.Errorf("cannot give a key name for a directory path")
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("error reading %s: %w", path, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || len(validation.IsConfigMapKey(e.Name())) > 0 {
			continue // kubectl skips what is not a file with a valid key name
		}
		data, err := os.ReadFile(filepath.Join(path, e.Name()))
		if err != nil {
			return fmt.Errorf("error reading %s: %w", filepath.Join(path, e.Name()), err)
		}
		if err := o.add(e.Name(), data); err != nil {
			return err
		}
	}
	return nil
}

// addEnvFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, and a line with only KEY takes the value from the environment.
func (o *CreateDataOptions) addEnvFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("error reading %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			v = os.Getenv(k)
		}
		if errs := validation.IsEnvVarName(k); len(errs) > 0 {
			return fmt.Errorf("%q is not a valid key name: %s (%s, line %d)", k, strings.Join(errs, ";"), path, n)
		}
		if err := o.add(k, []byte(v)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// Validate checks the flags.
func (o *CreateDataOptions) Validate() error {
	if o.Type != "" && o.Type != string(corev1.SecretTypeOpaque) {
		return fmt.Errorf("secret type %q: not supported by skiff (supported: %q)", o.Type, corev1.SecretTypeOpaque)
	}
	switch o.Output {
	case "", "yaml", "json", "name":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.Output)
}

// object builds the ConfigMap or Secret.
func (o *CreateDataOptions) object() any {
	meta := metav1.ObjectMeta{Name: o.name}
	if o.dryRun == DryRunClient && o.explicitNS {
		meta.Namespace = o.namespace
	}
	if o.res.Name == api.Secrets.Name {
		s := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: meta, Type: corev1.SecretType(o.Type)}
		if len(o.data) > 0 {
			s.Data = o.data
		}
		return s
	}
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta}
	for k, v := range o.data {
		if utf8.Valid(v) {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[k] = string(v)
			continue
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[k] = v
	}
	return cm
}

// Run creates the object (unless --dry-run=client) and prints it.
func (o *CreateDataOptions) Run(ctx context.Context) error {
	obj := o.object()
	if o.dryRun != DryRunClient {
		c, err := o.f.Client()
		if err != nil {
			return err
		}
		create := c.Create
		if o.dryRun == DryRunServer {
			create = c.CreateDryRun
		}
		if err := create(ctx, o.res, o.namespace, obj); err != nil {
			return err
		}
	}
	return printTyped(o.Out, o.Output, obj, o.kind(), o.name, o.dryRun.operation("created"))
}
