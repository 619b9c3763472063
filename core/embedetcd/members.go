package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	etcderrors "go.etcd.io/etcd/server/v3/etcdserver/errors"
)

// Membership changes of a running etcd, as `etcdctl member add|remove`
// make them and kubeadm's `join --control-plane` and `reset` use them: a
// control-plane server is added as a learner (kubeadm's EtcdLearnerMode),
// which does not count in the quorum, so the cluster keeps serving however
// long the new server takes to start; the new member starts with
// ClusterState "existing" and the initial cluster AddMember returns, and
// promotes itself to a voting member once it has caught up (StartWith).
// A server taken out for good is removed.

// RefusedError is a membership change AddMember or RemoveMember refuses
// without asking etcd: bad input, or a change that would break the
// cluster. Other errors are etcd's.
type RefusedError struct{ msg string }

func (e *RefusedError) Error() string { return e.msg }

// MembershipRefused marks it for the API server (which answers
// FailedPrecondition rather than Unavailable).
func (e *RefusedError) MembershipRefused() {}

func refused(format string, args ...any) error {
	return &RefusedError{msg: fmt.Sprintf(format, args...)}
}

// ClusterStateNew and ClusterStateExisting are Options.ClusterState (etcd's
// --initial-cluster-state).
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// AddMember adds a member name with peer URL peerURL (https://IP:PORT) to
// the cluster c belongs to, as a learner, and returns it with the initial
// cluster (NAME=URL,...: every member, the new one included) that the new
// member must start with, together with ClusterState "existing".
func AddMember(ctx context.Context, c clientv3.Cluster, name, peerURL string) (*etcdserverpb.Member, string, error) {
	if err := validName(name); err != nil || name == "" {
		if err == nil {
			err = errors.New("name is empty")
		}
		return nil, "", refused("member %q: %v", name, err)
	}
	u, err := parsePeerURL(peerURL)
	if err != nil {
		return nil, "", refused("member %q: %v", name, err)
	}
	list, err := c.MemberList(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list etcd members: %w", err)
	}
	for _, m := range list.Members {
		switch {
		case m.Name == "":
			// etcd names a member when it first starts; the initial cluster
			// of another one could not name this one.
			return nil, "", refused("member %x (%s) was added but has not started: start it or remove it (by ID) first", m.ID, strings.Join(m.PeerURLs, ","))
		case m.IsLearner:
			// etcd takes one learner at a time.
			return nil, "", refused("member %q (%x) is a learner not promoted yet: start its server again, or remove it and empty its data dir, first", m.Name, m.ID)
		case m.Name == name:
			return nil, "", refused("member %q: a member of that name exists (%x)", name, m.ID)
		case slices.Contains(m.PeerURLs, u.String()):
			return nil, "", refused("member %q: member %q (%x) has the peer URL %s", name, m.Name, m.ID, u.String())
		}
	}
	resp, err := c.MemberAddAsLearner(ctx, []string{u.String()})
	if err != nil {
		return nil, "", fmt.Errorf("add etcd member %q: %w", name, explainUnhealthy(err))
	}
	added := resp.Member
	added.Name = name
	// One URL each (what skiffd's --etcd-initial-cluster takes); a member
	// added meanwhile by someone else, not named yet, cannot be listed.
	var all []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == added.ID {
			n = name
		}
		if n != "" && len(m.PeerURLs) > 0 {
			all = append(all, n+"="+m.PeerURLs[0])
		}
	}
	return added, strings.Join(all, ","), nil
}

// RemoveMember removes the member named nameOrID (its name, or its ID in
// hex as etcdctl prints it) from the cluster c belongs to. It refuses to
// remove self (the member c talks through: its server would lose its
// store mid-request) and the last member.
func RemoveMember(ctx context.Context, c clientv3.Cluster, nameOrID string, self uint64) (*etcdserverpb.Member, error) {
	list, err := c.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list etcd members: %w", err)
	}
	m := findMember(list.Members, nameOrID)
	switch {
	case m == nil:
		return nil, refused("etcd member %q: not found (members: %s)", nameOrID, memberNames(list.Members))
	case len(list.Members) == 1:
		return nil, refused("etcd member %q: it is the only member", nameOrID)
	case self != 0 && m.ID == self:
		return nil, refused("etcd member %q: it is the member of the server answering this request; ask another server", nameOrID)
	}
	if _, err := c.MemberRemove(ctx, m.ID); err != nil {
		return nil, fmt.Errorf("remove etcd member %q (%x): %w", m.Name, m.ID, explainUnhealthy(err))
	}
	return m, nil
}

func findMember(members []*etcdserverpb.Member, nameOrID string) *etcdserverpb.Member {
	for _, m := range members {
		if m.Name != "" && m.Name == nameOrID {
			return m
		}
	}
	if id, err := strconv.ParseUint(nameOrID, 16, 64); err == nil {
		for _, m := range members {
			if m.ID == id {
				return m
			}
		}
	}
	return nil
}

func memberNames(members []*etcdserverpb.Member) string {
	names := make([]string, 0, len(members))
	for _, m := range members {
		n := m.Name
		if n == "" {
			n = strconv.FormatUint(m.ID, 16) + " (not started)"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// MemberID is the ID of this member in its cluster.
func (e *Etcd) MemberID() uint64 { return uint64(e.e.Server.MemberID()) }

// promoteSelf makes e, started as a learner added by AddMember, a voting
// member: etcd refuses until the learner has caught up with the leader's
// log, so it tries again until timeout. A member that votes already (a
// later start) has nothing to do.
func promoteSelf(ctx context.Context, e *embed.Etcd, timeout time.Duration) error {
	id := e.Server.MemberID()
	deadline := time.Now().Add(timeout)
	for {
		m := e.Server.Cluster().Member(id)
		if m == nil || !m.IsLearner {
			return nil
		}
		_, err := e.Server.PromoteMember(ctx, uint64(id))
		switch {
		case err == nil || errors.Is(err, membership.ErrMemberNotLearner):
			return nil
		case errors.Is(err, membership.ErrIDNotFound) || errors.Is(err, etcderrors.ErrStopped) || ctx.Err() != nil:
			return fmt.Errorf("promote learner %x: %w", uint64(id), err)
		case time.Now().After(deadline):
			// Not caught up, no leader, or the leader counting too few
			// started members: all pass, given time.
			return fmt.Errorf("promote learner %x: still refused after %v: %w", uint64(id), timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// explainUnhealthy says why etcd answers "unhealthy cluster" to a
// membership change, which its message does not.
func explainUnhealthy(err error) error {
	if strings.Contains(err.Error(), "unhealthy cluster") {
		return fmt.Errorf("%w (etcd refuses a membership change after which its members connected for 5s or more would not make a quorum, as just after the servers start: retry in a few seconds)", err)
	}
	return err
}

// Membership is the membership of the etcd a server stores in, as its API
// server offers it (apiserver.EtcdMembership).
type Membership struct {
	Client clientv3.Cluster
	// Self is the server's own member; 0 with an external etcd, whose
	// membership is its operators' to change, not skiff's.
	Self uint64
	// Stacked: the servers' members were started with names and peer TLS
	// (Options.Name, InitialCluster), so members may be added and removed.
	// A single member on loopback (skiffd dev, or a server without
	// --etcd-name) changes its peer address at every start: a second
	// member could never reach it, and would cost it its quorum.
	Stacked bool
}

// List is the members and the server's own.
func (m Membership) List(ctx context.Context) ([]*etcdserverpb.Member, uint64, error) {
	resp, err := m.Client.MemberList(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list etcd members: %w", err)
	}
	return resp.Members, m.Self, nil
}

// Add is AddMember, on a stacked cluster only.
func (m Membership) Add(ctx context.Context, name, peerURL string) (*etcdserverpb.Member, string, error) {
	if err := m.changeable(); err != nil {
		return nil, "", err
	}
	return AddMember(ctx, m.Client, name, peerURL)
}

// Remove is RemoveMember, on a stacked cluster only, never of Self.
func (m Membership) Remove(ctx context.Context, nameOrID string) (*etcdserverpb.Member, error) {
	if err := m.changeable(); err != nil {
		return nil, err
	}
	return RemoveMember(ctx, m.Client, nameOrID, m.Self)
}

func (m Membership) changeable() error {
	switch {
	case m.Self == 0:
		return refused("the servers use an external etcd (--etcd-endpoints): change its members with its own tools")
	case !m.Stacked:
		return refused("this server's etcd is a single member on loopback (skiffd dev, or skiffd server without --etcd-name): " +
			"members can be added only to servers started with --etcd-name and --etcd-initial-cluster")
	}
	return nil
}
