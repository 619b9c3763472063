package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/controllers"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
)

// RunDev runs the server, one agent for this host and embedded etcd until
// ctx ends. ready, if not nil, is called once the node has registered.
func RunDev(ctx context.Context, o Options, ready func(adminConfig string)) error {
	if err := o.defaults(); err != nil {
		return err
	}
	// Server and agent in one: both timings are known.
	if err := controllers.ValidateNodeTimings(o.NodeGracePeriod, o.HeartbeatInterval); err != nil {
		return err
	}
	srv, err := startServer(ctx, &o)
	if err != nil {
		return err
	}
	defer srv.stop()
	srv.api.SetJoinLog(o.Log.With("component", "join"))
	creds, err := issueNodeCredentials(&o, srv.ca)
	if err != nil {
		return err
	}
	ag, err := startAgent(ctx, &o, creds, srv.addr)
	if err != nil {
		return err
	}
	defer ag.stop()
	if ready != nil {
		ready(filepath.Join(o.DataDir, "admin.conf"))
	}
	return wait(ctx, ag)
}

// RunServer runs the API server, controllers and scheduler until ctx ends.
func RunServer(ctx context.Context, o Options, ready func(adminConfig string)) error {
	if err := o.defaults(); err != nil {
		return err
	}
	// The agents' heartbeat interval is theirs; the node lifecycle
	// controller warns about Leases that do not fit the grace period.
	if err := controllers.ValidateNodeGracePeriod(o.NodeGracePeriod); err != nil {
		return err
	}
	srv, err := startServer(ctx, &o)
	if err != nil {
		return err
	}
	defer srv.stop()
	srv.api.SetJoinLog(o.Log.With("component", "join"))
	c, err := adminClient(srv)
	if err != nil {
		return err
	}
	defer c.Close()
	token, secret, err := firstStartToken(ctx, &o, c)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(filepath.Join(o.DataDir, "admin.conf"))
	}
	printJoinCommand(&o, srv, token, secret)
	<-ctx.Done()
	return nil
}

func adminClient(srv *runningServer) (*client.Client, error) {
	r, err := srv.adminCfg.Current("")
	if err != nil {
		return nil, err
	}
	return client.New(r)
}

// firstStartToken is the token of <data-dir>/join-token, which `skiffctl
// cluster create` and users read: made with its Secret (expiring after
// o.TokenTTL) at first start. secret is nil when the token's Secret has
// expired and been cleaned, or was deleted.
func firstStartToken(ctx context.Context, o *Options, c *client.Client) (token string, secret *corev1.Secret, err error) {
	path := filepath.Join(o.DataDir, apiserver.JoinTokenFile)
	token, err = apiserver.ReadJoinToken(path)
	if errors.Is(err, os.ErrNotExist) {
		return makeFirstStartToken(ctx, o, c, path)
	}
	if err != nil {
		return "", nil, err
	}
	id, _, _ := registry.ParseBootstrapToken(token) // checked by ReadJoinToken
	var s corev1.Secret
	err = c.Get(ctx, api.Secrets, registry.BootstrapTokenNamespace, registry.BootstrapTokenSecretName(id), &s)
	switch {
	case err == nil:
		return token, &s, nil
	case !apierrors.IsNotFound(err):
		return "", nil, fmt.Errorf("bootstrap token %q: %w", id, err)
	}
	// Its Secret is gone: it expired, or was deleted (perhaps because it
	// leaked). It is never made again.
	return token, nil, nil
}

// makeFirstStartToken makes a token and its Secret, then writes the file:
// once the file exists the token works.
func makeFirstStartToken(ctx context.Context, o *Options, c *client.Client, path string) (string, *corev1.Secret, error) {
	token := registry.GenerateBootstrapToken()
	sec, err := registry.NewBootstrapTokenSecret(token, o.TokenTTL, "The bootstrap token made by 'skiffd server' at first start.", time.Now())
	if err != nil {
		return "", nil, fmt.Errorf("--token-ttl: %w", err)
	}
	if err := storeFirstStartToken(ctx, c, sec); err != nil {
		return "", nil, err
	}
	if err := apiserver.WriteJoinToken(path, token); err != nil {
		return "", nil, err
	}
	o.Log.Info("made a bootstrap token for agents to join with", "file", path, "ttl", ttlText(o.TokenTTL))
	return token, sec, nil
}

// storeFirstStartToken creates sec.
func storeFirstStartToken(ctx context.Context, c *client.Client, sec *corev1.Secret) error {
	if err := c.Create(ctx, api.Secrets, sec.Namespace, sec); err != nil {
		return fmt.Errorf("bootstrap token %q: secret %q in %q: %w", sec.Data[registry.BootstrapTokenIDKey], sec.Name, sec.Namespace, err)
	}
	return nil
}

// printJoinCommand tells how to join a node with the first-start token,
// or how to make a token when it no longer works.
func printJoinCommand(o *Options, srv *runningServer, token string, secret *corev1.Secret) {
	path := filepath.Join(o.DataDir, apiserver.JoinTokenFile)
	if secret == nil || registry.BootstrapTokenExpired(secret, time.Now()) {
		fmt.Fprintf(os.Stderr, "The bootstrap token in %s has expired or was deleted. To join a node, make one: skiffctl --config %s token create --print-join-command\n",
			path, filepath.Join(o.DataDir, "admin.conf"))
		return
	}
	fmt.Fprintf(os.Stderr, "Join a node: skiffd agent --server %s --token %s --ca-cert-hash %s\n", srv.addr, token, apiserver.CACertHash(srv.ca.Cert))
	if exp, ok, _ := registry.BootstrapTokenExpiration(secret); ok {
		fmt.Fprintf(os.Stderr, "The token expires at %s; make more with: skiffctl --config %s token create --print-join-command\n",
			exp.Format(time.RFC3339), filepath.Join(o.DataDir, "admin.conf"))
	}
}

func ttlText(ttl time.Duration) string {
	if ttl == 0 {
		return "never expires"
	}
	return ttl.String()
}

// RunAgent runs a node agent that joins o.Server: with the bootstrap token
// o.JoinToken when given, else using the cluster CA in o.PKIDir to make
// its credentials.
func RunAgent(ctx context.Context, o Options) error {
	if o.Server == "" {
		return fmt.Errorf("--server is required")
	}
	if err := o.defaults(); err != nil {
		return err
	}
	if o.HeartbeatInterval < 0 {
		return fmt.Errorf("--heartbeat-interval %v: must be positive", o.HeartbeatInterval)
	}
	credsDir := filepath.Join(o.DataDir, nodeCredentialsDir)
	creds, unusable := savedNodeCredentials(&o)
	switch {
	case creds != nil:
		o.Log.Info("using the node credentials of an earlier join", "dir", credsDir)
	case o.JoinToken != "":
		var err error
		if creds, err = joinNodeCredentials(ctx, &o); err != nil {
			if unusable != nil {
				return fmt.Errorf("%w (the node credentials saved in %s cannot be used: %v; join with a new token: skiffctl token create --print-join-command)", err, credsDir, unusable)
			}
			return err
		}
		if err := saveNodeCredentials(filepath.Join(o.DataDir, nodeCredentialsDir), creds); err != nil {
			return err
		}
	default:
		if _, err := os.Stat(filepath.Join(o.PKIDir, "ca.key")); err != nil {
			if unusable != nil {
				return fmt.Errorf("agent: the node credentials saved in %s cannot be used (%v): join again with --token (skiffctl token create --print-join-command)", credsDir, unusable)
			}
			return fmt.Errorf("agent: the cluster CA or a join token is needed to join (looked in %s; pass --pki-dir or --token): %w", o.PKIDir, err)
		}
		ca, err := pki.LoadOrCreateCA(o.PKIDir)
		if err != nil {
			return err
		}
		if creds, err = issueNodeCredentials(&o, ca); err != nil {
			return err
		}
	}
	ag, err := startAgent(ctx, &o, creds, o.Server)
	if err != nil {
		return err
	}
	defer ag.stop()
	return wait(ctx, ag)
}

// savedNodeCredentials are the credentials of an earlier join when they
// are still good for this node and cluster; else nil, and why they cannot
// be used (nil when nothing was saved). The agent then joins again.
func savedNodeCredentials(o *Options) (*nodeCredentials, error) {
	dir := filepath.Join(o.DataDir, nodeCredentialsDir)
	creds, err := loadNodeCredentials(dir, o.NodeName, o.CACertHash, time.Now())
	switch {
	case err == nil:
		return creds, nil
	case errors.Is(err, errNothingSaved):
		return nil, nil
	}
	o.Log.Warn("not using saved node credentials", "reason", err)
	return nil, err
}

func wait(ctx context.Context, ag *runningAgent) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-ag.done:
		ag.done <- err // for stop, which waits on it too
		if err != nil {
			return fmt.Errorf("agent stopped: %w", err)
		}
		return nil
	}
}
