package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	goruntime "runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/core/store"
	"github.com/skiffhq/skiff/core/version"
	"github.com/skiffhq/skiff/sdk/base"
)

// Config is what the server needs.
type Config struct {
	Store *store.Store
	CA    *pki.CA
	// ServingCert is the server's TLS certificate.
	ServingCert pki.KeyPair
	// AgentClientCert is what the server presents to node agents when it
	// relays logs and images.
	AgentClientCert pki.KeyPair
	// EventTTL is how long events are kept after their last update
	// (default one hour, as Kubernetes).
	EventTTL time.Duration
	// EncryptionKeys encrypt secrets at rest: the first encrypts, all
	// decrypt (encryption.go). Empty stores them unencrypted.
	EncryptionKeys []EncryptionKey
	// NodeLeaseTTL is how long a node's heartbeat Lease outlives its last
	// renewal: the node grace period (registry.LeaseStrategy).
	NodeLeaseTTL time.Duration
	// Etcd is the membership of the etcd the server stores in
	// (etcdmembers.go); nil: not offered.
	Etcd EtcdMembership
}

// Server is the API server.
type Server struct {
	apipb.UnimplementedSkiffServer
	objects *objects
	agents  *agentDialer
	grpc    *grpc.Server
	// local is the plugin host of the server's own process (pluginlogs.go).
	local localPlugins
	// join is the bootstrap token and CA of Join (join.go).
	join joinState
	// podRefs is the node authorizer's index of what pods use
	// (nodeauth.go); it runs until Stop.
	podRefs *podRefIndex
	// pluginReportMaxAge is how old a node's plugin report may be before
	// `plugin ls` says it does not know (pluginreports.go).
	pluginReportMaxAge time.Duration
	etcd               EtcdMembership
	stop               context.CancelFunc
}

// New builds a server.
func New(cfg Config) (*Server, error) {
	serving, err := cfg.ServingCert.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	clientCert, err := cfg.AgentClientCert.TLSCertificate()
	if err != nil {
		return nil, fmt.Errorf("agent client certificate: %w", err)
	}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientCAs:    cfg.CA.Pool(),
		// Only Join may come without a certificate: the interceptors
		// (auth.go) refuse every other call that has no verified one.
		ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS12,
	}
	transform, err := transformers(cfg.EncryptionKeys)
	if err != nil {
		return nil, err
	}
	strategies := registry.Default()
	strategies[api.Leases.Name] = registry.LeaseStrategy{NodeLeaseTTL: cfg.NodeLeaseTTL}
	strategies[api.Events.Name] = registry.EventStrategy{EventTTL: cfg.EventTTL}
	s := &Server{
		objects: &objects{store: cfg.Store, strategies: strategies, now: time.Now, transformers: transform},
		agents:  newAgentDialer(&tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: cfg.CA.Pool(), MinVersion: tls.VersionTLS12}),
		etcd:    cfg.Etcd,
	}
	var ctx context.Context
	ctx, s.stop = context.WithCancel(context.Background())
	s.podRefs = newPodRefIndex(ctx, s.objects)
	s.grpc = grpc.NewServer(append(base.WindowServerOptions(),
		grpc.Creds(credentials.NewTLS(tlsCfg)),
		grpc.UnaryInterceptor(unaryAuth),
		grpc.StreamInterceptor(streamAuth),
		grpc.ForceServerCodecV2(relayCodec), // relay passes frames through
		grpc.MaxRecvMsgSize(64<<20),
		grpc.MaxSendMsgSize(64<<20),
	)...)
	s.join.ca = cfg.CA
	apipb.RegisterSkiffServer(s.grpc, s)
	startHealth(ctx, s.grpc, cfg.Store) // health.go: for load balancers
	return s, nil
}

// Serve serves on lis until Stop.
func (s *Server) Serve(lis net.Listener) error { return s.grpc.Serve(lis) }

// Stop stops serving; open streams are cut.
func (s *Server) Stop() {
	s.stop()
	s.grpc.Stop()
	s.agents.close()
}

func (s *Server) Create(ctx context.Context, req *apipb.CreateRequest) (*apipb.Object, error) {
	if err := s.authorizeObjects(ctx, verbCreate, req.Resource, req.Namespace, "", "", req.Json); err != nil {
		return nil, api.ToGRPC(err)
	}
	obj, err := s.objects.create(ctx, req)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	out, err := toPB(obj)
	return out, api.ToGRPC(err)
}

func (s *Server) Get(ctx context.Context, req *apipb.GetRequest) (*apipb.Object, error) {
	if err := s.authorizeObjects(ctx, verbGet, req.Resource, req.Namespace, req.Name, "", nil); err != nil {
		return nil, api.ToGRPC(err)
	}
	_, obj, err := s.objects.get(ctx, req.Resource, req.Namespace, req.Name)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	out, err := toPB(obj)
	return out, api.ToGRPC(err)
}

func (s *Server) List(ctx context.Context, req *apipb.ListRequest) (*apipb.ListResponse, error) {
	if err := s.authorizeObjects(ctx, verbList, req.Resource, req.Namespace, selectedName(req.FieldSelector), "", nil); err != nil {
		return nil, api.ToGRPC(err)
	}
	objs, rev, err := s.objects.list(ctx, req)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	resp := &apipb.ListResponse{ResourceVersion: rev}
	for _, obj := range objs {
		pb, err := toPB(obj)
		if err != nil {
			return nil, api.ToGRPC(err)
		}
		resp.Items = append(resp.Items, pb)
	}
	return resp, nil
}

// selectedName is the one name a list or watch is narrowed to by its field
// selector (metadata.name=<name>), as Kubernetes' request info reads it:
// the authorizer then treats it as a request for that object, so whoever
// may get an object may also watch it alone (the agents' ConfigMaps and
// Secrets). "" when the selector names no single object.
func selectedName(fieldSelector string) string {
	sel, err := fields.ParseSelector(fieldSelector)
	if err != nil {
		return "" // the verb answers BadRequest
	}
	name, _ := sel.RequiresExactMatch("metadata.name")
	return name
}

func (s *Server) Update(ctx context.Context, req *apipb.UpdateRequest) (*apipb.Object, error) {
	if err := s.authorizeObjects(ctx, verbUpdate, req.Resource, req.Namespace, "", req.Subresource, req.Json); err != nil {
		return nil, api.ToGRPC(err)
	}
	obj, err := s.objects.update(ctx, req)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	out, err := toPB(obj)
	return out, api.ToGRPC(err)
}

func (s *Server) Delete(ctx context.Context, req *apipb.DeleteRequest) (*apipb.Object, error) {
	// The node authorizer sees the preconditions as object metadata.
	var pre []byte
	if req.PreconditionUid != "" {
		pre, _ = json.Marshal(metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{UID: types.UID(req.PreconditionUid)}})
	}
	if err := s.authorizeObjects(ctx, verbDelete, req.Resource, req.Namespace, req.Name, "", pre); err != nil {
		return nil, api.ToGRPC(err)
	}
	obj, err := s.objects.delete(ctx, req)
	if err != nil {
		return nil, api.ToGRPC(err)
	}
	out, err := toPB(obj)
	return out, api.ToGRPC(err)
}

func (s *Server) Watch(req *apipb.WatchRequest, stream apipb.Skiff_WatchServer) error {
	ctx, name := stream.Context(), selectedName(req.FieldSelector)
	if err := s.authorizeObjects(ctx, verbWatch, req.Resource, req.Namespace, name, "", nil); err != nil {
		return api.ToGRPC(err)
	}
	send := stream.Send
	if reauthorize(ctx, req.Resource) {
		// A node may read a ConfigMap or Secret only while its pods use
		// it: each event is authorized again, and the watch ends with
		// Forbidden once they no longer do.
		send = func(ev *apipb.WatchEvent) error {
			if err := s.authorizeObjects(ctx, verbWatch, req.Resource, req.Namespace, name, "", nil); err != nil {
				return err
			}
			return stream.Send(ev)
		}
	}
	return api.ToGRPC(s.objects.watch(ctx, req, send))
}

// reauthorize reports whether a watch's events must be authorized one by
// one: a node's watch of ConfigMaps or Secrets, whose right to read them
// ends when its pods stop using them.
func reauthorize(ctx context.Context, resource string) bool {
	if resource != api.ConfigMaps.Name && resource != api.Secrets.Name {
		return false
	}
	id, err := identityFrom(ctx)
	return err == nil && !id.InGroup(pki.GroupAdmins)
}

func (s *Server) Version(context.Context, *apipb.VersionRequest) (*apipb.VersionResponse, error) {
	return &apipb.VersionResponse{Version: version.Version, GitCommit: version.GitCommit, GoVersion: goruntime.Version()}, nil
}
