// Package embedetcd runs etcd inside the skiffd process, the default for a
// single-server cluster. Clients connect in-process (no network hop); the
// client and peer listeners are on loopback only.
package embedetcd

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Etcd is a running embedded etcd.
type Etcd struct {
	e      *embed.Etcd
	Client *clientv3.Client
	// Endpoint is the loopback client URL, for tools and benchmarks.
	Endpoint string
}

// Start runs etcd with its data under dir/etcd and waits until it serves.
func Start(ctx context.Context, dir string) (*Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "skiff"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.LogLevel = "warn"
	cfg.Logger = "zap"
	// etcd logs to its own file: its shutdown chatter is not skiffd's news.
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	clientURL, err := loopbackURL()
	if err != nil {
		return nil, err
	}
	peerURL, err := loopbackURL()
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{clientURL}, []url.URL{clientURL}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The peer URL changes at every start; a single member does not care.
	cfg.StrictReconfigCheck = false
	cfg.AutoCompactionMode = "revision"
	cfg.AutoCompactionRetention = "10000"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s: not ready after 60s", cfg.Dir)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Etcd{e: e, Client: v3client.New(e.Server), Endpoint: clientURL.String()}, nil
}

// Close stops etcd.
func (e *Etcd) Close() {
	e.Client.Close()
	e.e.Close()
}

func loopbackURL() (url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return url.URL{}, fmt.Errorf("find a free loopback port for etcd: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return url.URL{Scheme: "http", Host: addr}, nil
}

// Connect dials an external etcd cluster.
func Connect(endpoints []string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	// Fail at start, not at the first request, when etcd does not answer.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "/skiff/health-check"); err != nil {
		c.Close()
		return nil, fmt.Errorf("etcd at %v does not answer: %w", endpoints, err)
	}
	return c, nil
}
