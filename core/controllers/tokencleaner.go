package controllers

// Token cleaner, as kube-controller-manager's tokencleaner controller:
// bootstrap tokens (Secrets of type bootstrap.kubernetes.io/token in
// kube-system, registry/secrets.go) are deleted once they expire. Join
// refuses an expired token by itself (apiserver/join.go); the cleaner only
// keeps `skiffctl token list` and etcd free of dead tokens, so a check a
// minute is enough.

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/registry"
)

// DefaultTokenCleanPeriod is how often expired tokens are looked for.
const DefaultTokenCleanPeriod = time.Minute

// TokenCleaner deletes expired bootstrap tokens.
type TokenCleaner struct {
	Client *client.Client
	// Period defaults to DefaultTokenCleanPeriod.
	Period time.Duration
	Log    *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Run cleans at once, then every Period until ctx ends.
func (c *TokenCleaner) Run(ctx context.Context) {
	if c.Period <= 0 {
		c.Period = DefaultTokenCleanPeriod
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	every(ctx, c.Period, c.clean)
}

// clean deletes every expired token once. A token deleted meanwhile (by
// an admin, or a second server's cleaner) is fine.
func (c *TokenCleaner) clean(ctx context.Context) {
	secrets, _, err := client.List[corev1.Secret](ctx, c.Client, api.Secrets, registry.BootstrapTokenNamespace,
		client.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeBootstrapToken)})
	if err != nil {
		if ctx.Err() == nil {
			c.Log.Warn("list bootstrap tokens", "error", err)
		}
		return
	}
	now := c.Now()
	for i := range secrets {
		s := &secrets[i]
		if s.Type != corev1.SecretTypeBootstrapToken || !registry.BootstrapTokenExpired(s, now) {
			continue
		}
		_, err := c.Client.Delete(ctx, api.Secrets, s.Namespace, s.Name, client.DeleteOptions{})
		switch {
		case err == nil:
			c.Log.Info("deleted expired bootstrap token", "secret", s.Namespace+"/"+s.Name,
				"expiration", string(s.Data[registry.BootstrapTokenExpirationKey]))
		case apierrors.IsNotFound(err) || ctx.Err() != nil:
		default:
			c.Log.Warn("delete expired bootstrap token", "secret", s.Namespace+"/"+s.Name, "error", err)
		}
	}
}
