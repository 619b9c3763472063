package apiserver

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/core/api/apipb"
)

// EtcdMembership is the membership of the etcd the server stores in, for
// `skiffctl etcd member list|add|remove` (admins only, as every call that
// is not a node's): the way to add a control-plane server to a running
// cluster, or take one out for good, without reaching etcd's own
// endpoints (an embedded member's client endpoint is its server's
// loopback). embedetcd.Membership implements it.
type EtcdMembership interface {
	// List is the members, and the answering server's own (0: none, an
	// external etcd).
	List(ctx context.Context) (members []*etcdserverpb.Member, self uint64, err error)
	// Add adds a member, and returns it with the initial cluster it must
	// first start with.
	Add(ctx context.Context, name, peerURL string) (*etcdserverpb.Member, string, error)
	// Remove removes the member of that name, or hex ID.
	Remove(ctx context.Context, nameOrID string) (*etcdserverpb.Member, error)
}

// membershipRefusal is an error of a change refused before etcd was asked
// (bad input, or a change that would break the cluster).
type membershipRefusal interface{ MembershipRefused() }

func (s *Server) etcdMembership() (EtcdMembership, error) {
	if s.etcd == nil {
		return nil, status.Error(codes.Unimplemented, "this server does not offer its etcd's membership")
	}
	return s.etcd, nil
}

// EtcdMembers lists the members.
func (s *Server) EtcdMembers(ctx context.Context, _ *apipb.EtcdMembersRequest) (*apipb.EtcdMembersResponse, error) {
	e, err := s.etcdMembership()
	if err != nil {
		return nil, err
	}
	members, self, err := e.List(ctx)
	if err != nil {
		return nil, membershipError(err)
	}
	resp := &apipb.EtcdMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, etcdMemberPB(m))
		if self != 0 && m.ID == self {
			resp.AnsweredBy = m.Name
		}
	}
	return resp, nil
}

// EtcdMemberAdd adds a member for a new control-plane server.
func (s *Server) EtcdMemberAdd(ctx context.Context, req *apipb.EtcdMemberAddRequest) (*apipb.EtcdMemberAddResponse, error) {
	e, err := s.etcdMembership()
	if err != nil {
		return nil, err
	}
	m, initial, err := e.Add(ctx, req.Name, req.PeerUrl)
	if err != nil {
		return nil, membershipError(err)
	}
	return &apipb.EtcdMemberAddResponse{Member: etcdMemberPB(m), InitialCluster: initial}, nil
}

// EtcdMemberRemove removes a member, never the answering server's own.
func (s *Server) EtcdMemberRemove(ctx context.Context, req *apipb.EtcdMemberRemoveRequest) (*apipb.EtcdMemberRemoveResponse, error) {
	e, err := s.etcdMembership()
	if err != nil {
		return nil, err
	}
	m, err := e.Remove(ctx, req.Member)
	if err != nil {
		return nil, membershipError(err)
	}
	return &apipb.EtcdMemberRemoveResponse{Removed: etcdMemberPB(m)}, nil
}

// membershipError is a refused change as FailedPrecondition, and etcd's
// own failure (no quorum, a member just started) as Unavailable: try
// again.
func membershipError(err error) error {
	var r membershipRefusal
	if errors.As(err, &r) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Unavailable, err.Error())
}

func etcdMemberPB(m *etcdserverpb.Member) *apipb.EtcdMember {
	return &apipb.EtcdMember{Id: m.ID, Name: m.Name, PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, IsLearner: m.IsLearner}
}
