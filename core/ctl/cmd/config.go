package cmd

// `skiffctl config`: read and change the client config file, as `kubectl
// config` does the kubeconfig. The file is the one --config, then
// $SKIFFCONFIG, then ~/.skiff/config names (core/clientconfig). As with
// kubectl, a missing file reads as an empty config unless --config named
// it; changes replace the file atomically and leave it mode 0600
// (clientconfig.Config.Write).

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// NewCmdConfig returns `skiffctl config` and its subcommands. flags name
// the client config file (--config) and, for view --minify, the context.
func NewCmdConfig(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Modify client config files",
		Long: `Modify client config files using subcommands like "skiffctl config set-context --current --namespace=dev".

The file is chosen in this order:
  1. --config
  2. $` + clientconfig.EnvVar + `
  3. ~/.skiff/config`,
		DisableFlagsInUseLine: true,
		Args:                  noArgs,
		RunE:                  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCmdConfigGetContexts(flags, streams),
		newCmdConfigCurrentContext(flags, streams),
		newCmdConfigUseContext(flags, streams),
		newCmdConfigView(flags, streams),
		newCmdConfigSetContext(flags, streams),
	)
	return cmd
}

// loadClientConfig reads the client config the flags name. A file that
// does not exist is an empty config, as kubectl treats a missing
// kubeconfig, unless --config names it explicitly.
func loadClientConfig(flags *ConfigFlags) (*clientconfig.Config, string, error) {
	path, err := clientconfig.ResolvePath(flags.ConfigPath)
	if err != nil {
		return nil, "", err
	}
	cfg, err := clientconfig.Load(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && flags.ConfigPath == "" {
			return &clientconfig.Config{}, path, nil
		}
		return nil, "", err
	}
	return cfg, path, nil
}

// modifyClientConfig edits the client config the flags name under its
// lock (clientconfig.Modify). A file that does not exist is an empty config,
// as for loadClientConfig.
func modifyClientConfig(flags *ConfigFlags, change func(*clientconfig.Config) error) error {
	path, err := clientconfig.ResolvePath(flags.ConfigPath)
	if err != nil {
		return err
	}
	return clientconfig.Modify(path, flags.ConfigPath == "", change)
}

// ConfigGetContextsOptions are the options of `skiffctl config get-contexts`.
type ConfigGetContextsOptions struct {
	IOStreams
	flags *ConfigFlags

	Output    string
	NoHeaders bool

	names []string
}

func newCmdConfigGetContexts(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &ConfigGetContextsOptions{IOStreams: streams, flags: flags}
	cmd := &cobra.Command{
		Use:                   "get-contexts [(-o|--output=)name] [NAME...]",
		DisableFlagsInUseLine: true,
		Short:                 "Describe one or many contexts",
		Long:                  "Display one or many contexts from the client config file; the current one is marked with *.",
		Example: `  # List all the contexts in your client config file
  skiffctl config get-contexts

  # Describe one context in your client config file
  skiffctl config get-contexts skiff-dev`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format. One of: (name).")
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", false, "When using the default or custom-column output format, don't print headers (default print headers).")
	return cmd
}

// Complete takes the context names and checks -o.
func (o *ConfigGetContextsOptions) Complete(cmd *cobra.Command, args []string) error {
	if o.Output != "" && o.Output != "name" {
		return usageErrorf(cmd.CommandPath(), "--output %s is not available in skiffctl config get-contexts; the formats are: name", o.Output)
	}
	o.names = args
	return nil
}

// Run prints kubectl's table, CURRENT NAME CLUSTER AUTHINFO NAMESPACE, by
// name; names that are not contexts are errors after the table.
func (o *ConfigGetContextsOptions) Run() error {
	cfg, _, err := loadClientConfig(o.flags)
	if err != nil {
		return err
	}
	var show []clientconfig.Context
	var errs []error
	if len(o.names) == 0 {
		for _, name := range cfg.ContextNames() {
			show = append(show, *cfg.Context(name))
		}
	} else {
		for _, name := range o.names {
			if cx := cfg.Context(name); cx != nil {
				show = append(show, *cx)
			} else {
				errs = append(errs, fmt.Errorf("context %s not found", name))
			}
		}
	}
	if o.Output == "name" {
		for _, cx := range show {
			fmt.Fprintln(o.Out, cx.Name)
		}
		return errors.Join(errs...)
	}
	w := printers.NewTabWriter(o.Out)
	if !o.NoHeaders {
		fmt.Fprintln(w, "CURRENT\tNAME\tCLUSTER\tAUTHINFO\tNAMESPACE")
	}
	for _, cx := range show {
		mark := " "
		if cx.Name == cfg.CurrentContext {
			mark = "*"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", mark, cx.Name, cx.Cluster, cx.User, cx.Namespace)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// ConfigCurrentContextOptions are the options of `skiffctl config current-context`.
type ConfigCurrentContextOptions struct {
	IOStreams
	flags *ConfigFlags
}

func newCmdConfigCurrentContext(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &ConfigCurrentContextOptions{IOStreams: streams, flags: flags}
	return &cobra.Command{
		Use:   "current-context",
		Short: "Display the current-context",
		Long:  "Display the current-context of the client config file.",
		Example: `  # Display the current-context
  skiffctl config current-context`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.Run() },
	}
}

// Run prints the current context, or kubectl's error when there is none.
func (o *ConfigCurrentContextOptions) Run() error {
	cfg, _, err := loadClientConfig(o.flags)
	if err != nil {
		return err
	}
	if cfg.CurrentContext == "" {
		return errors.New("current-context is not set")
	}
	fmt.Fprintln(o.Out, cfg.CurrentContext)
	return nil
}

// ConfigUseContextOptions are the options of `skiffctl config use-context`.
type ConfigUseContextOptions struct {
	IOStreams
	flags *ConfigFlags

	name string
}

func newCmdConfigUseContext(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &ConfigUseContextOptions{IOStreams: streams, flags: flags}
	return &cobra.Command{
		Use:                   "use-context CONTEXT_NAME",
		DisableFlagsInUseLine: true,
		Aliases:               []string{"use"},
		Short:                 "Set the current-context in a client config file",
		Example: `  # Use the context for the skiff-dev cluster
  skiffctl config use-context skiff-dev`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(cmd.CommandPath(), "Unexpected args: %v", args)
			}
			o.name = args[0]
			return o.Run()
		},
	}
}

// Run makes the context current.
func (o *ConfigUseContextOptions) Run() error {
	if o.name == "" {
		return errors.New("empty context names are not allowed")
	}
	err := modifyClientConfig(o.flags, func(cfg *clientconfig.Config) error {
		if cfg.Context(o.name) == nil {
			return fmt.Errorf("no context exists with the name: %q", o.name)
		}
		cfg.CurrentContext = o.name
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Switched to context %q.\n", o.name)
	return nil
}

// ConfigViewOptions are the options of `skiffctl config view`.
type ConfigViewOptions struct {
	IOStreams
	flags *ConfigFlags

	Raw     bool
	Flatten bool
	Minify  bool
	Output  string
}

func newCmdConfigView(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &ConfigViewOptions{IOStreams: streams, flags: flags}
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Display the client config file",
		Long: `Display the client config file.

Certificate and key data are shown as DATA+OMITTED; --raw shows them.`,
		Example: `  # Show the client config
  skiffctl config view

  # Show only the current context, its cluster and its user
  skiffctl config view --minify

  # Everything, credentials included (as a file other clients can use)
  skiffctl config view --raw`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().BoolVar(&o.Raw, "raw", false, "Display raw byte data and sensitive data")
	cmd.Flags().BoolVar(&o.Flatten, "flatten", false, "Flatten the resulting client config into self-contained output; skiff configs always embed their data, so this shows it as --raw does")
	cmd.Flags().BoolVar(&o.Minify, "minify", false, "Remove all information not used by current-context from the output")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "Output format. One of: (json, yaml).")
	return cmd
}

// Validate checks -o.
func (o *ConfigViewOptions) Validate() error {
	switch o.Output {
	case "yaml", "json":
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,yaml", o.Output)
}

// Run prints the config, minified and with its data omitted as asked.
func (o *ConfigViewOptions) Run() error {
	cfg, _, err := loadClientConfig(o.flags)
	if err != nil {
		return err
	}
	if cfg.APIVersion == "" && cfg.Kind == "" {
		cfg.APIVersion, cfg.Kind = "skiff.dev/v1", "Config"
	}
	if o.Minify {
		if o.flags.Context != "" {
			cfg.CurrentContext = o.flags.Context
		}
		if cfg, err = minifyConfig(cfg); err != nil {
			return err
		}
	}
	if !o.Raw && !o.Flatten {
		cfg = shortenConfig(cfg)
	}
	return printConfig(o.Out, o.Output, cfg)
}

func printConfig(w io.Writer, format string, cfg *clientconfig.Config) error {
	var data []byte
	var err error
	if format == "json" {
		data, err = json.MarshalIndent(cfg, "", "    ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(cfg)
	}
	if err != nil {
		return fmt.Errorf("encode client config: %w", err)
	}
	_, err = w.Write(data)
	return err
}

// dataOmitted is kubectl's trick (clientcmdapi.ShortenConfig): bytes that
// base64-encode to "DATA+OMITTED", so the marshalled []byte reads so.
var dataOmitted = func() []byte {
	b, _ := base64.StdEncoding.DecodeString("DATA+OMITTED")
	return b
}()

// shortenConfig returns a copy of cfg whose certificate and key data read
// DATA+OMITTED, as `kubectl config view` shows them without --raw.
func shortenConfig(cfg *clientconfig.Config) *clientconfig.Config {
	out := *cfg
	out.Clusters = append([]clientconfig.Cluster(nil), cfg.Clusters...)
	out.Users = append([]clientconfig.User(nil), cfg.Users...)
	omit := func(b *[]byte) {
		if len(*b) > 0 {
			*b = dataOmitted
		}
	}
	for i := range out.Clusters {
		omit(&out.Clusters[i].CertificateAuthorityData)
	}
	for i := range out.Users {
		omit(&out.Users[i].ClientCertificateData)
		omit(&out.Users[i].ClientKeyData)
	}
	return &out
}

// minifyConfig keeps the current context and its cluster and user, with
// kubectl's errors (clientcmdapi.MinifyConfig).
func minifyConfig(cfg *clientconfig.Config) (*clientconfig.Config, error) {
	if cfg.CurrentContext == "" {
		return nil, errors.New("current-context must exist in order to minify")
	}
	cx := cfg.Context(cfg.CurrentContext)
	if cx == nil {
		return nil, fmt.Errorf("cannot locate context %s", cfg.CurrentContext)
	}
	out := &clientconfig.Config{APIVersion: cfg.APIVersion, Kind: cfg.Kind, CurrentContext: cfg.CurrentContext,
		Contexts: []clientconfig.Context{*cx}}
	if cx.Cluster != "" {
		found := false
		for _, cl := range cfg.Clusters {
			if cl.Name == cx.Cluster {
				out.Clusters, found = []clientconfig.Cluster{cl}, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot locate cluster %s", cx.Cluster)
		}
	}
	if cx.User != "" {
		found := false
		for _, u := range cfg.Users {
			if u.Name == cx.User {
				out.Users, found = []clientconfig.User{u}, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("cannot locate user %s", cx.User)
		}
	}
	return out, nil
}

// ConfigSetContextOptions are the options of `skiffctl config set-context`.
type ConfigSetContextOptions struct {
	IOStreams
	flags *ConfigFlags

	Current   bool
	Cluster   string
	User      string
	Namespace string

	name                              string
	setCluster, setUser, setNamespace bool
}

func newCmdConfigSetContext(flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &ConfigSetContextOptions{IOStreams: streams, flags: flags}
	cmd := &cobra.Command{
		Use:                   "set-context [NAME | --current] [--cluster=cluster_nickname] [--user=user_nickname] [--namespace=namespace]",
		DisableFlagsInUseLine: true,
		Short:                 "Set a context entry in the client config",
		Long: `Set a context entry in the client config.

Specifying a name that already exists will merge new fields on top of
existing values for those fields.`,
		Example: `  # Work in namespace dev from now on
  skiffctl config set-context --current --namespace=dev

  # Set the user field on the skiff-dev context entry without touching other values
  skiffctl config set-context skiff-dev --user=skiff-dev`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().BoolVar(&o.Current, "current", false, "Modify the current context")
	cmd.Flags().StringVar(&o.Cluster, "cluster", "", "cluster for the context entry in the client config")
	cmd.Flags().StringVar(&o.User, "user", "", "user for the context entry in the client config")
	// Shadows the global -n/--namespace, as kubectl's set-context does.
	cmd.Flags().StringVarP(&o.Namespace, "namespace", "n", "", "namespace for the context entry in the client config")
	return cmd
}

// Complete takes the context name and which fields to set.
func (o *ConfigSetContextOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageErrorf(cmd.CommandPath(), "Unexpected args: %v", args)
	}
	if len(args) == 1 {
		o.name = args[0]
	}
	fl := cmd.Flags()
	o.setCluster, o.setUser, o.setNamespace = fl.Changed("cluster"), fl.Changed("user"), fl.Changed("namespace")
	return nil
}

// Validate checks that exactly one of NAME and --current is given, and
// that the namespace could be one.
func (o *ConfigSetContextOptions) Validate() error {
	if o.name == "" && !o.Current {
		return errors.New("you must specify a non-empty context name or --current")
	}
	if o.name != "" && o.Current {
		return errors.New("you cannot specify both a context name and --current")
	}
	if o.Namespace != "" {
		if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
			return fmt.Errorf("invalid namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
		}
	}
	return nil
}

// Run creates or modifies the context.
func (o *ConfigSetContextOptions) Run() error {
	var name, verb string
	err := modifyClientConfig(o.flags, func(cfg *clientconfig.Config) error {
		name = o.name
		if o.Current {
			if cfg.CurrentContext == "" {
				return errors.New("no current context is set")
			}
			name = cfg.CurrentContext
		}
		cx := cfg.Context(name)
		verb = "modified"
		if cx == nil {
			cfg.Contexts = append(cfg.Contexts, clientconfig.Context{Name: name})
			cx = &cfg.Contexts[len(cfg.Contexts)-1]
			verb = "created"
		}
		if o.setCluster {
			cx.Cluster = o.Cluster
		}
		if o.setUser {
			cx.User = o.User
		}
		if o.setNamespace {
			cx.Namespace = o.Namespace
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "Context %q %s.\n", name, verb)
	return nil
}
