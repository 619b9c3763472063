package agent

// The node's heartbeat is its Lease in kube-node-lease, renewed every
// HeartbeatInterval, as the kubelet keeps it. The API server stores node
// leases under an etcd lease of the node grace period, re-armed by every
// renewal (registry.LeaseStrategy): when the agent stops renewing, etcd
// deletes the Lease and the node lifecycle controller marks the node
// NotReady. The Node's status, a much larger object, is written only when
// it changes or every nodeStatusReportInterval (postStatusIfChanged in
// node.go).

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
)

// leaseDurationFactor makes the Lease's leaseDurationSeconds four renewal
// intervals, as the kubelet's 40 s lease renewed every 10 s.
const leaseDurationFactor = 4

// nodeLease renews one node's Lease, keeping the last written object so
// that a renewal is a single update.
type nodeLease struct {
	a    *Agent
	last *coordinationv1.Lease
}

// renewLeaseLoop renews the Lease at once and then every HeartbeatInterval
// until ctx ends.
func (a *Agent) renewLeaseLoop(ctx context.Context) {
	l := &nodeLease{a: a}
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if err := l.renew(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat: renew node lease", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renew updates the cached Lease's renewTime; when that fails because the
// Lease changed or expired meanwhile, it reads it again or creates it.
func (l *nodeLease) renew(ctx context.Context) error {
	c, name := l.a.cfg.Client, l.a.cfg.NodeName
	now := metav1.NewMicroTime(time.Now())
	if l.last != nil {
		next := l.last.DeepCopy()
		next.Spec.RenewTime = &now
		err := c.Update(ctx, api.Leases, api.NodeLeaseNamespace, next, "")
		if err == nil {
			l.last = next
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return fmt.Errorf("lease %s/%s: %w", api.NodeLeaseNamespace, name, err)
		}
		l.last = nil // somebody else wrote it, or etcd expired it: start over
	}
	var cur coordinationv1.Lease
	err := c.Get(ctx, api.Leases, api.NodeLeaseNamespace, name, &cur)
	switch {
	case apierrors.IsNotFound(err):
		cur = l.newLease(now)
		err = c.Create(ctx, api.Leases, api.NodeLeaseNamespace, &cur)
	case err == nil:
		l.fill(&cur, now)
		err = c.Update(ctx, api.Leases, api.NodeLeaseNamespace, &cur, "")
	}
	if err != nil {
		return fmt.Errorf("lease %s/%s: %w", api.NodeLeaseNamespace, name, err)
	}
	l.last = &cur
	return nil
}

func (l *nodeLease) newLease(now metav1.MicroTime) coordinationv1.Lease {
	lease := coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: api.Leases.APIVersion(), Kind: api.Leases.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: l.a.cfg.NodeName, Namespace: api.NodeLeaseNamespace},
	}
	l.fill(&lease, now)
	return lease
}

// fill makes the Lease this node's, renewed now.
func (l *nodeLease) fill(lease *coordinationv1.Lease, now metav1.MicroTime) {
	holder := l.a.cfg.NodeName
	seconds := max(int32(leaseDurationFactor*l.a.cfg.HeartbeatInterval/time.Second), 1)
	lease.Spec.HolderIdentity = &holder
	lease.Spec.LeaseDurationSeconds = &seconds
	lease.Spec.RenewTime = &now
}
