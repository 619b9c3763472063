package controllers

// CSR approving and signing, as kube-controller-manager's csrapproving and
// csrsigning controllers do for API client certificates:
//
//   - a request of signer kubernetes.io/kube-apiserver-client-kubelet in
//     which a node asks for its own client certificate (requestor
//     system:node:<name> in group system:nodes, CN the same user, O exactly
//     system:nodes, no SANs, client usages) is approved (selfnodeclient);
//     any other request waits for an admin (`skiffctl certificate approve`);
//   - an approved request of one of skiff's signers (registry.CSRSigners)
//     is signed with the cluster CA: the certificate goes into
//     status.certificate, valid for spec.expirationSeconds when given and
//     never longer than the CA's policy (pki.CA.MaxClientValidity, the
//     server's --node-cert-ttl); one the signer cannot sign gets a Failed
//     condition (SignerValidationFailure) instead;
//   - old requests go the way Kubernetes' csrcleaner sends them: each is
//     kept under a TTL in etcd (registry.CSRStrategy.TTL: a day while
//     pending, an hour once approved, denied or failed).
//
// It works from a watch of the requests, and goes through them all every
// CSRResync in case a write failed.

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
)

// CSRResync is how often every request is looked at without an event.
const CSRResync = time.Minute

// Conditions the controller sets, with Kubernetes' reasons.
const (
	csrAutoApproved         = "AutoApproved"
	csrAutoApprovedMessage  = "Auto approving self kubelet client certificate: the node asked for its own."
	csrSignerValidationFail = "SignerValidationFailure"
)

// CSRSigning approves nodes' self-renewals and signs approved requests.
type CSRSigning struct {
	Client *client.Client
	// CA signs; it needs its key. Its MaxClientValidity caps lifetimes.
	CA  *pki.CA
	Log *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	mu sync.Mutex // one sync at a time
	// written is the resourceVersion of each request's last write here:
	// a watch event older than that is stale (the write's own event comes).
	written map[string]int64
}

// Run runs until ctx ends.
func (c *CSRSigning) Run(ctx context.Context) {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	go watchLoop(ctx, c.Client, api.CertificateSigningRequests, c.Log, func(typ string, csr *certificatesv1.CertificateSigningRequest) {
		if typ == "DELETED" {
			c.mu.Lock()
			delete(c.written, csr.Name)
			c.mu.Unlock()
			return
		}
		c.Sync(ctx, csr)
	})
	t := time.NewTicker(CSRResync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		csrs, _, err := client.List[certificatesv1.CertificateSigningRequest](ctx, c.Client, api.CertificateSigningRequests, "", client.ListOptions{})
		if err != nil {
			if ctx.Err() == nil {
				c.Log.Warn("list certificatesigningrequests", "error", err)
			}
			continue
		}
		for i := range csrs {
			c.Sync(ctx, &csrs[i])
		}
	}
}

// Sync approves and signs csr as far as it should be, reading it again
// when a write meets a newer version. Calls are serialized.
func (c *CSRSigning) Sync(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.written == nil {
		c.written = map[string]int64{}
	}
	if rv, _ := strconv.ParseInt(csr.ResourceVersion, 10, 64); rv < c.written[csr.Name] {
		return // stale: this controller wrote a newer version
	}
	for attempt := 0; ; attempt++ {
		err := c.sync(ctx, csr)
		if err == nil || ctx.Err() != nil {
			return
		}
		// Conflict, or Invalid when another server's controller issued
		// the certificate first: look again.
		if !(apierrors.IsConflict(err) || apierrors.IsInvalid(err)) || attempt == 3 {
			c.Log.Warn("sync certificatesigningrequest", "name", csr.Name, "error", err)
			return
		}
		fresh := &certificatesv1.CertificateSigningRequest{}
		if err := c.Client.Get(ctx, api.CertificateSigningRequests, "", csr.Name, fresh); err != nil {
			if !apierrors.IsNotFound(err) {
				c.Log.Warn("get certificatesigningrequest", "name", csr.Name, "error", err)
			}
			return
		}
		csr = fresh
	}
}

func (c *CSRSigning) sync(ctx context.Context, csr *certificatesv1.CertificateSigningRequest) error {
	if !slices.Contains(registry.CSRSigners, csr.Spec.SignerName) || len(csr.Status.Certificate) > 0 ||
		registry.CSRHasCondition(csr, certificatesv1.CertificateDenied) || registry.CSRHasCondition(csr, certificatesv1.CertificateFailed) {
		return nil // not ours, or done
	}
	if !registry.CSRHasCondition(csr, certificatesv1.CertificateApproved) {
		if !SelfNodeClient(csr) {
			return nil // an admin decides
		}
		csr = csr.DeepCopy()
		csr.Status.Conditions = append(csr.Status.Conditions, c.condition(certificatesv1.CertificateApproved, csrAutoApproved, csrAutoApprovedMessage))
		if err := c.update(ctx, csr, registry.CSRApproval); err != nil {
			return fmt.Errorf("approve: %w", err)
		}
		c.Log.Info("approved a node's request for its own client certificate", "name", csr.Name, "requestor", csr.Spec.Username)
	}
	csr = csr.DeepCopy()
	cert, err := c.sign(csr)
	if err != nil {
		csr.Status.Conditions = append(csr.Status.Conditions, c.condition(certificatesv1.CertificateFailed, csrSignerValidationFail, err.Error()))
		c.Log.Warn("cannot sign certificatesigningrequest", "name", csr.Name, "error", err)
	} else {
		csr.Status.Certificate = cert
	}
	if err := c.update(ctx, csr, registry.CSRStatus); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	if len(cert) > 0 {
		c.Log.Info("signed certificatesigningrequest", "name", csr.Name, "requestor", csr.Spec.Username, "signer", csr.Spec.SignerName)
	}
	return nil
}

// update writes csr's subresource and remembers the version written.
func (c *CSRSigning) update(ctx context.Context, csr *certificatesv1.CertificateSigningRequest, subresource string) error {
	if err := c.Client.Update(ctx, api.CertificateSigningRequests, "", csr, subresource); err != nil {
		return err
	}
	rv, _ := strconv.ParseInt(csr.ResourceVersion, 10, 64)
	c.written[csr.Name] = rv
	return nil
}

// sign makes the certificate of an approved request.
func (c *CSRSigning) sign(csr *certificatesv1.CertificateSigningRequest) ([]byte, error) {
	req, err := registry.CSRSignable(csr)
	if err != nil {
		return nil, err
	}
	var ttl time.Duration
	if s := csr.Spec.ExpirationSeconds; s != nil {
		ttl = time.Duration(*s) * time.Second
	}
	usage, ext := x509Usages(csr.Spec.Usages)
	return c.CA.SignRequest(req, ttl, usage, ext, c.Now())
}

func (c *CSRSigning) condition(t certificatesv1.RequestConditionType, reason, msg string) certificatesv1.CertificateSigningRequestCondition {
	now := metav1.NewTime(c.Now())
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg,
		LastUpdateTime: now, LastTransitionTime: now}
}

// x509Usages maps the usages skiff's signers issue (registry.CSRSignable
// has checked them).
func x509Usages(us []certificatesv1.KeyUsage) (x509.KeyUsage, []x509.ExtKeyUsage) {
	var usage x509.KeyUsage
	var ext []x509.ExtKeyUsage
	for _, u := range us {
		switch u {
		case certificatesv1.UsageDigitalSignature:
			usage |= x509.KeyUsageDigitalSignature
		case certificatesv1.UsageKeyEncipherment:
			usage |= x509.KeyUsageKeyEncipherment
		case certificatesv1.UsageClientAuth:
			ext = append(ext, x509.ExtKeyUsageClientAuth)
		}
	}
	return usage, ext
}

// SelfNodeClient reports whether csr is a node asking for its own client
// certificate, which is approved without an admin (Kubernetes' csrapproving
// controller, "selfnodeclient").
func SelfNodeClient(csr *certificatesv1.CertificateSigningRequest) bool {
	if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName ||
		!strings.HasPrefix(csr.Spec.Username, "system:node:") || !slices.Contains(csr.Spec.Groups, pki.GroupNodes) {
		return false
	}
	req, err := registry.CSRSignable(csr)
	if err != nil {
		return false
	}
	return req.Subject.CommonName == csr.Spec.Username
}
