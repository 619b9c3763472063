package apiserver

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/embedetcd"
)

// EtcdMembership is the etcd the server stores in, for `skiffctl etcd
// member list|add|remove` (admins only, as every call that is not a
// node's): the way to add a control-plane server to a running cluster, or
// take one out for good, without reaching etcd's own endpoints (an
// embedded member's client endpoint is the server's loopback).
type EtcdMembership struct {
	Cluster clientv3.Cluster
	// Self is the answering server's member; 0 with an external etcd,
	// whose membership is its operators' to change, not skiff's.
	Self uint64
	// Stacked: the servers' members were started with names and peer TLS
	// (--etcd-name, --etcd-initial-cluster), so members may be added and
	// removed. A single member on loopback (skiffd dev, or a server
	// without --etcd-name) changes its peer address at every start: a
	// second member could never reach it, and would cost it its quorum.
	Stacked bool
}

func (s *Server) etcdMembership() (EtcdMembership, error) {
	if s.etcd.Cluster == nil {
		return s.etcd, status.Error(codes.Unimplemented, "this server does not offer its etcd's membership")
	}
	return s.etcd, nil
}

// EtcdMembers lists the members.
func (s *Server) EtcdMembers(ctx context.Context, _ *apipb.EtcdMembersRequest) (*apipb.EtcdMembersResponse, error) {
	e, err := s.etcdMembership()
	if err != nil {
		return nil, err
	}
	list, err := e.Cluster.MemberList(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list etcd members: %v", err)
	}
	resp := &apipb.EtcdMembersResponse{}
	for _, m := range list.Members {
		resp.Members = append(resp.Members, etcdMemberPB(m))
		if m.ID == e.Self && e.Self != 0 {
			resp.AnsweredBy = m.Name
		}
	}
	return resp, nil
}

// EtcdMemberAdd adds a member for a new control-plane server.
func (s *Server) EtcdMemberAdd(ctx context.Context, req *apipb.EtcdMemberAddRequest) (*apipb.EtcdMemberAddResponse, error) {
	e, err := s.embeddedEtcd()
	if err != nil {
		return nil, err
	}
	m, initial, err := embedetcd.AddMember(ctx, e.Cluster, req.Name, req.PeerUrl)
	if err != nil {
		return nil, membershipError(err)
	}
	return &apipb.EtcdMemberAddResponse{Member: etcdMemberPB(m), InitialCluster: initial}, nil
}

// EtcdMemberRemove removes a member, never the answering server's own.
func (s *Server) EtcdMemberRemove(ctx context.Context, req *apipb.EtcdMemberRemoveRequest) (*apipb.EtcdMemberRemoveResponse, error) {
	e, err := s.embeddedEtcd()
	if err != nil {
		return nil, err
	}
	m, err := embedetcd.RemoveMember(ctx, e.Cluster, req.Member, e.Self)
	if err != nil {
		return nil, membershipError(err)
	}
	return &apipb.EtcdMemberRemoveResponse{Removed: etcdMemberPB(m)}, nil
}

func (s *Server) embeddedEtcd() (EtcdMembership, error) {
	e, err := s.etcdMembership()
	if err != nil {
		return e, err
	}
	switch {
	case e.Self == 0:
		return e, status.Error(codes.FailedPrecondition, "the servers use an external etcd (--etcd-endpoints): change its members with its own tools")
	case !e.Stacked:
		return e, status.Error(codes.FailedPrecondition, "this server's etcd is a single member on loopback (skiffd dev, or skiffd server without --etcd-name): "+
			"members can be added only to servers started with --etcd-name and --etcd-initial-cluster")
	}
	return e, nil
}

// membershipError is a refused change as FailedPrecondition, and etcd's
// own failure (no quorum, a member just started) as Unavailable: try
// again.
func membershipError(err error) error {
	var r *embedetcd.RefusedError
	if errors.As(err, &r) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func etcdMemberPB(m *etcdserverpb.Member) *apipb.EtcdMember {
	return &apipb.EtcdMember{Id: m.ID, Name: m.Name, PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, IsLearner: m.IsLearner}
}
