package cmd

// `skiffctl token`: bootstrap tokens, as `kubeadm token` manages them.
// A token is a Secret kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token (core/registry/secrets.go); agents join
// with it (skiffd agent --token) and the server's token cleaner deletes it
// once expired.

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/printers"
	"github.com/skiffhq/skiff/core/registry"
)

// NewCmdToken returns `skiffctl token` and its subcommands. flags name the
// client config, whose server and CA make the join command.
func NewCmdToken(f Factory, flags *ConfigFlags, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and delete the bootstrap tokens nodes join with",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdTokenCreate(f, flags, streams), newCmdTokenList(f, streams), newCmdTokenDelete(f, streams))
	return cmd
}

// TokenCreateOptions are the options of `skiffctl token create`.
type TokenCreateOptions struct {
	IOStreams
	f     Factory
	flags *ConfigFlags

	TTL              time.Duration
	Description      string
	PrintJoinCommand bool

	token string
}

func newCmdTokenCreate(f Factory, flags *ConfigFlags, streams IOStreams) *cobra.Command {
	o := &TokenCreateOptions{IOStreams: streams, f: f, flags: flags}
	cmd := &cobra.Command{
		Use:                   "create [TOKEN] [--ttl 24h] [--description D] [--print-join-command]",
		DisableFlagsInUseLine: true,
		Short:                 "Create a bootstrap token for nodes to join with",
		Long: `Create a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) for nodes to join with, as
kubeadm token create: a Secret bootstrap-token-<id> in kube-system. Without
TOKEN a random one is made. The token is printed, or with
--print-join-command the whole skiffd agent command.`,
		Example: `  # A token that expires in 24 hours
  skiffctl token create

  # The command that joins a node, with a token valid for two hours
  skiffctl token create --ttl 2h --print-join-command

  # A token that never expires
  skiffctl token create --ttl 0 --description "rack 4"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().DurationVar(&o.TTL, "ttl", 24*time.Hour, "The duration before the token is automatically deleted (e.g. 1s, 2m, 3h). If set to '0', the token will never expire")
	cmd.Flags().StringVar(&o.Description, "description", "", "A human friendly description of how this token is used.")
	cmd.Flags().BoolVar(&o.PrintJoinCommand, "print-join-command", false, "Instead of printing only the token, print the full 'skiffd agent' command needed to join a node using the token.")
	return cmd
}

// Complete checks the token argument and the TTL.
func (o *TokenCreateOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageErrorf(cmd.CommandPath(), "create takes at most one token, got %d arguments", len(args))
	}
	if o.TTL < 0 {
		return usageErrorf(cmd.CommandPath(), "--ttl %s: must not be negative (0: never expires)", o.TTL)
	}
	if len(args) == 1 {
		if _, _, err := registry.ParseBootstrapToken(args[0]); err != nil {
			return fmt.Errorf("token: %w", err) // not echoed: it may be a real secret
		}
		o.token = args[0]
	}
	return nil
}

// Run stores the token's secret and prints the token or join command.
func (o *TokenCreateOptions) Run(ctx context.Context) error {
	if o.token == "" {
		o.token = registry.GenerateBootstrapToken()
	}
	// The join command comes from the client config: read it before
	// making a token nobody would see.
	var join string
	if o.PrintJoinCommand {
		var err error
		if join, err = joinCommand(o.flags, o.token); err != nil {
			return err
		}
	}
	secret, err := registry.NewBootstrapTokenSecret(o.token, o.TTL, o.Description, o.f.Now())
	if err != nil {
		return err
	}
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	if err := c.Create(ctx, api.Secrets, secret.Namespace, secret); err != nil {
		return err
	}
	if join != "" {
		fmt.Fprintln(o.Out, join)
		return nil
	}
	fmt.Fprintln(o.Out, o.token)
	return nil
}

// joinCommand is the skiffd agent command that joins a node to the server
// of the client config with token, pinning the config's CA.
func joinCommand(flags *ConfigFlags, token string) (string, error) {
	path, r, err := flags.resolve()
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(r.Cluster.CertificateAuthorityData)
	if block == nil {
		return "", fmt.Errorf("client config %s: cluster %q: certificate-authority-data holds no certificate", path, r.Cluster.Name)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("client config %s: cluster %q: certificate-authority-data: %w", path, r.Cluster.Name, err)
	}
	return fmt.Sprintf("skiffd agent --server %s --token %s --ca-cert-hash %s", r.Cluster.Server, token, apiserver.CACertHash(ca)), nil
}

// TokenListOptions are the options of `skiffctl token list`.
type TokenListOptions struct {
	IOStreams
	f Factory

	NoHeaders bool
}

func newCmdTokenList(f Factory, streams IOStreams) *cobra.Command {
	o := &TokenListOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the bootstrap tokens",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return o.Run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", false, "Don't print headers.")
	return cmd
}

// TokenColumns are the columns of `token list`, kubeadm's without EXTRA
// GROUPS: TTL is the time left (<forever> without expiration, <invalid>
// once expired and until the cleaner deletes it).
var TokenColumns = []printers.Column{{Name: "Token"}, {Name: "TTL"}, {Name: "Expires"}, {Name: "Usages"}, {Name: "Description"}}

// Run prints one row per token, by token id.
func (o *TokenListOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	// Filtered here rather than with a type= field selector, as kubeadm
	// does on the server: the table needs the same secrets either way.
	secrets, _, err := client.List[corev1.Secret](ctx, c, api.Secrets, registry.BootstrapTokenNamespace, client.ListOptions{})
	if err != nil {
		return err
	}
	sort.Slice(secrets, func(i, j int) bool { return secrets[i].Name < secrets[j].Name })
	now := o.f.Now()
	t := printers.Table{Columns: TokenColumns}
	for i := range secrets {
		s := &secrets[i]
		if s.Type != corev1.SecretTypeBootstrapToken {
			continue
		}
		cells, err := tokenCells(s, now)
		if err != nil {
			fmt.Fprintf(o.ErrOut, "Warning: %v\n", err)
			continue
		}
		t.Rows = append(t.Rows, printers.Row{Cells: cells})
	}
	if len(t.Rows) == 0 {
		fmt.Fprintln(o.ErrOut, "No bootstrap tokens found")
		return nil
	}
	tw := printers.NewTabWriter(o.Out)
	tp := &printers.TablePrinter{Options: printers.TableOptions{NoHeaders: o.NoHeaders}}
	if err := tp.Print(tw, t); err != nil {
		return err
	}
	return tw.Flush()
}

func tokenCells(s *corev1.Secret, now time.Time) ([]string, error) {
	token := string(s.Data[registry.BootstrapTokenIDKey]) + "." + string(s.Data[registry.BootstrapTokenSecretKey])
	if _, _, err := registry.ParseBootstrapToken(token); err != nil {
		return nil, fmt.Errorf("secret %q in %q: %w", s.Name, s.Namespace, err)
	}
	ttl, expires := "<forever>", "<never>"
	exp, ok, err := registry.BootstrapTokenExpiration(s)
	if err != nil {
		return nil, err
	}
	if ok {
		ttl = duration.ShortHumanDuration(exp.Sub(now))
		expires = exp.Format(time.RFC3339)
	}
	usages := strings.Join(registry.BootstrapTokenUsages(s), ",")
	desc := string(s.Data[registry.BootstrapTokenDescriptionKey])
	return []string{token, ttl, expires, orNone(usages), orNone(desc)}, nil
}

// TokenDeleteOptions are the options of `skiffctl token delete`.
type TokenDeleteOptions struct {
	IOStreams
	f Factory

	ids []string
}

func newCmdTokenDelete(f Factory, streams IOStreams) *cobra.Command {
	o := &TokenDeleteOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "delete (TOKEN | ID)...",
		DisableFlagsInUseLine: true,
		Short:                 "Delete bootstrap tokens: nodes can no longer join with them",
		Example: `  # Delete a token by its id (the part before the dot)
  skiffctl token delete abcdef`,
		Args: requireArgs(1, "missing argument; 'token delete' is missing a token ([a-z0-9]{6}.[a-z0-9]{16}) or token id ([a-z0-9]{6})"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	return cmd
}

// Complete takes the token id of every argument.
func (o *TokenDeleteOptions) Complete(args []string) error {
	for _, a := range args {
		id, _, err := registry.ParseBootstrapToken(a)
		if err != nil {
			if !registry.IsBootstrapTokenID(a) {
				return fmt.Errorf("token argument %d: neither a token ([a-z0-9]{6}.[a-z0-9]{16}) nor a token id ([a-z0-9]{6})", len(o.ids)+1)
			}
			id = a
		}
		o.ids = append(o.ids, id)
	}
	return nil
}

// Run deletes each token's secret, going on past failures.
func (o *TokenDeleteOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range o.ids {
		if _, err := c.Delete(ctx, api.Secrets, registry.BootstrapTokenNamespace, registry.BootstrapTokenSecretName(id), client.DeleteOptions{}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.Out, "bootstrap token %q deleted\n", id)
	}
	return errors.Join(errs...)
}
