package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/pki"
)

// RunDev runs the server, one agent for this host and embedded etcd until
// ctx ends. ready, if not nil, is called once the node has registered.
func RunDev(ctx context.Context, o Options, ready func(adminConfig string)) error {
	if err := o.defaults(); err != nil {
		return err
	}
	srv, err := startServer(ctx, &o)
	if err != nil {
		return err
	}
	defer srv.stop()
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
	srv, err := startServer(ctx, &o)
	if err != nil {
		return err
	}
	defer srv.stop()
	token, created, err := apiserver.LoadOrCreateJoinToken(filepath.Join(o.DataDir, apiserver.JoinTokenFile))
	if err != nil {
		return err
	}
	srv.api.SetJoinToken(token)
	if created {
		o.Log.Info("made a bootstrap token for agents to join with", "file", filepath.Join(o.DataDir, apiserver.JoinTokenFile))
	}
	if ready != nil {
		ready(filepath.Join(o.DataDir, "admin.conf"))
	}
	fmt.Fprintf(os.Stderr, "Join a node: skiffd agent --server %s --token %s --ca-cert-hash %s\n", srv.addr, token, apiserver.CACertHash(srv.ca.Cert))
	<-ctx.Done()
	return nil
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
	var creds *nodeCredentials
	if o.JoinToken != "" {
		c, err := joinNodeCredentials(ctx, &o)
		if err != nil {
			return err
		}
		creds = c
	} else {
		if _, err := os.Stat(filepath.Join(o.PKIDir, "ca.key")); err != nil {
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
