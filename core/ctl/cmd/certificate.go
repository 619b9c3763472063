package cmd

// `skiffctl certificate approve|deny NAME...`, as kubectl certificate:
// adds the Approved (or Denied) condition to CertificateSigningRequests
// through their approval subresource. The server's CSR controller signs
// approved requests; nodes' renewals of their own client certificates are
// approved without an admin.

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/registry"
)

// NewCmdCertificate returns `skiffctl certificate` and its subcommands.
func NewCmdCertificate(f Factory, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certificate SUBCOMMAND",
		Short: "Modify certificate resources",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newCmdCertificateDecision(f, streams, &CertificateOptions{condition: certificatesv1.CertificateApproved, operation: "approved",
			reason: "KubectlApprove", message: "This CSR was approved by kubectl certificate approve."}, "approve", "Approve"),
		newCmdCertificateDecision(f, streams, &CertificateOptions{condition: certificatesv1.CertificateDenied, operation: "denied",
			reason: "KubectlDeny", message: "This CSR was denied by kubectl certificate deny."}, "deny", "Deny"),
	)
	return cmd
}

// CertificateOptions are the options of `certificate approve` and `deny`.
type CertificateOptions struct {
	IOStreams
	f Factory

	Force bool
	Names []string

	condition       certificatesv1.RequestConditionType
	operation       string // what the output says was done
	reason, message string
}

func newCmdCertificateDecision(f Factory, streams IOStreams, o *CertificateOptions, verb, title string) *cobra.Command {
	o.IOStreams, o.f = streams, f
	cmd := &cobra.Command{
		Use:                   verb + " NAME...",
		DisableFlagsInUseLine: true,
		Short:                 title + " a certificate signing request",
		Long: fmt.Sprintf(`%s a certificate signing request.

skiffctl certificate %s allows a cluster admin to %s a certificate signing
request (CSR). The server's signer then issues the certificate of an
approved request with the cluster CA. Nodes' requests to renew their own
client certificate are approved without an admin.`, title, verb, verb),
		Example: fmt.Sprintf("  # %s CSR 'csr-sqgzp'\n  skiffctl certificate %s csr-sqgzp", title, verb),
		Args:    requireArgs(1, "one or more CSRs must be specified as <name>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = args
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, fmt.Sprintf("Update the CSR even if it is already %s.", o.operation))
	return cmd
}

// Run adds the condition to each request, going on past failures.
func (o *CertificateOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range o.Names {
		if err := o.decide(ctx, c, name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(o.Out, "%s/%s %s\n", api.CertificateSigningRequests.QualifiedKind(), name, o.operation)
	}
	return errors.Join(errs...)
}

// decide adds the condition unless the request has it (with --force it is
// written anyway), reading the request again when the write meets a newer
// version. The server refuses to approve a denied request and the reverse.
func (o *CertificateOptions) decide(ctx context.Context, c *client.Client, name string) error {
	for attempt := 0; ; attempt++ {
		var csr certificatesv1.CertificateSigningRequest
		if err := c.Get(ctx, api.CertificateSigningRequests, "", name, &csr); err != nil {
			return err
		}
		has := registry.CSRHasCondition(&csr, o.condition)
		if has && !o.Force {
			return nil
		}
		if !has {
			csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: o.condition, Status: corev1.ConditionTrue, Reason: o.reason, Message: o.message, LastUpdateTime: metav1.NewTime(o.f.Now()),
			})
		}
		err := c.Update(ctx, api.CertificateSigningRequests, "", &csr, registry.CSRApproval)
		if apierrors.IsConflict(err) && attempt < 10 {
			continue
		}
		return err
	}
}
