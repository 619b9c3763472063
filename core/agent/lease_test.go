package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// renew creates the node's Lease, renews it in place, and makes it again
// after etcd expired it or somebody else changed it.
func TestNodeLeaseRenewal(t *testing.T) {
	srv := testapi.Start(t)
	ctx := context.Background()
	a := &Agent{cfg: Config{NodeName: "worker-1", Client: srv.Admin, HeartbeatInterval: 10 * time.Second}, log: slog.Default()}
	l := &nodeLease{a: a}
	get := func() *coordinationv1.Lease {
		t.Helper()
		var got coordinationv1.Lease
		if err := srv.Admin.Get(ctx, api.Leases, api.NodeLeaseNamespace, "worker-1", &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	if err := l.renew(ctx); err != nil {
		t.Fatal(err)
	}
	first := get()
	if first.Spec.HolderIdentity == nil || *first.Spec.HolderIdentity != "worker-1" || first.Spec.LeaseDurationSeconds == nil ||
		*first.Spec.LeaseDurationSeconds != 40 || first.Spec.RenewTime == nil {
		t.Fatalf("created lease: %+v", first.Spec)
	}
	time.Sleep(10 * time.Millisecond)
	if err := l.renew(ctx); err != nil {
		t.Fatal(err)
	}
	second := get()
	if !second.Spec.RenewTime.After(first.Spec.RenewTime.Time) || second.UID != first.UID {
		t.Errorf("renewal: renewTime %v -> %v, uid %s -> %s", first.Spec.RenewTime, second.Spec.RenewTime, first.UID, second.UID)
	}

	// Somebody else writes it: the next renewal reads it again.
	other := "someone-else"
	second.Spec.HolderIdentity = &other
	if err := srv.Admin.Update(ctx, api.Leases, api.NodeLeaseNamespace, second, ""); err != nil {
		t.Fatal(err)
	}
	if err := l.renew(ctx); err != nil {
		t.Fatalf("renew after a concurrent write: %v", err)
	}
	if h := get().Spec.HolderIdentity; h == nil || *h != "worker-1" {
		t.Errorf("holder after renewal: %v, want worker-1", h)
	}

	// etcd expired it: the next renewal makes it again.
	if _, err := srv.Admin.Delete(ctx, api.Leases, api.NodeLeaseNamespace, "worker-1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.renew(ctx); err != nil {
		t.Fatalf("renew after expiry: %v", err)
	}
	if got := get(); got.UID == first.UID {
		t.Errorf("lease after expiry has the old uid %s", got.UID)
	}
}

func TestSameNodeStatusIgnoresHeartbeatTimes(t *testing.T) {
	a := &Agent{cfg: Config{NodeName: "n", NodeIP: "10.0.0.2"}}
	x := a.nodeStatus(10250, true)
	y := a.nodeStatus(10250, true)
	for i := range y.Conditions {
		y.Conditions[i].LastHeartbeatTime.Time = y.Conditions[i].LastHeartbeatTime.Add(time.Minute)
		y.Conditions[i].LastTransitionTime.Time = y.Conditions[i].LastTransitionTime.Add(time.Hour)
	}
	if !sameNodeStatus(x, y) {
		t.Errorf("statuses differing only in times are not the same")
	}
	if z := a.nodeStatus(10250, false); sameNodeStatus(x, z) {
		t.Errorf("Ready and not Ready statuses are the same")
	}
}
