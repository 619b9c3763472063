package apiserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/store"
)

func newLease(name, ns string) *coordinationv1.Lease {
	holder, seconds := name, int32(40)
	return &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &seconds,
			RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
}

// A node's Lease lives in etcd under a lease of the node grace period that
// each renewal re-arms: renewed, it stays; left alone, etcd deletes it. A
// Lease outside kube-node-lease does not expire.
func TestNodeLeasesExpireUnlessRenewed(t *testing.T) {
	const ttl = 3 * time.Second
	s := testapi.StartWith(t, testapi.Options{Configure: func(c *apiserver.Config) { c.NodeLeaseTTL = ttl }})
	ctx := context.Background()
	node, other := newLease("node-1", api.NodeLeaseNamespace), newLease("leader", "default")
	if err := s.Admin.Create(ctx, api.Leases, api.NodeLeaseNamespace, node); err != nil {
		t.Fatal(err)
	}
	if err := s.Admin.Create(ctx, api.Leases, "default", other); err != nil {
		t.Fatal(err)
	}
	// Renew for twice the TTL: the Lease must survive.
	for deadline := time.Now().Add(2 * ttl); time.Now().Before(deadline); time.Sleep(ttl / 3) {
		node.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		if err := s.Admin.Update(ctx, api.Leases, api.NodeLeaseNamespace, node, ""); err != nil {
			t.Fatalf("renew node lease: %v", err)
		}
	}
	// Stop renewing: etcd deletes it within the TTL (plus its expiry
	// check interval).
	stopped := time.Now()
	for {
		var got coordinationv1.Lease
		err := s.Admin.Get(ctx, api.Leases, api.NodeLeaseNamespace, "node-1", &got)
		if apierrors.IsNotFound(err) {
			if took := time.Since(stopped); took < ttl-time.Second {
				t.Errorf("node lease expired %v after its last renewal, before its TTL %v", took, ttl)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(stopped) > ttl+5*time.Second {
			t.Fatalf("node lease still there %v after its last renewal (TTL %v)", time.Since(stopped), ttl)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var got coordinationv1.Lease
	if err := s.Admin.Get(ctx, api.Leases, "default", "leader", &got); err != nil {
		t.Errorf("a lease outside %s expired: %v", api.NodeLeaseNamespace, err)
	}
	if got.Spec.HolderIdentity == nil || *got.Spec.HolderIdentity != "leader" || got.APIVersion != "coordination.k8s.io/v1" {
		t.Errorf("stored lease: %+v %+v", got.TypeMeta, got.Spec)
	}
}

func TestLeaseDecodingAndValidation(t *testing.T) {
	s := testapi.Start(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, body, want string }{
		{"core apiVersion", `{"apiVersion":"v1","kind":"Lease","metadata":{"name":"a"}}`, `skiff serves only "coordination.k8s.io/v1"`},
		{"unsupported field", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"a"},"spec":{"strategy":"OldestEmulationVersion"}}`, "spec.strategy: not supported by skiff"},
		{"unknown field", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"a"},"spec":{"holder":"x"}}`, `unknown field "spec.holder"`},
		{"negative duration", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"a"},"spec":{"leaseDurationSeconds":0}}`, "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"},
		{"bad name", `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"A_B"}}`, "metadata.name: Invalid value"},
	} {
		_, err := s.Admin.API.Create(ctx, &apipb.CreateRequest{Resource: "leases", Namespace: "default", Json: []byte(tc.body)})
		if err == nil || !strings.Contains(api.FromGRPC(err).Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	if _, err := s.Admin.API.Get(ctx, &apipb.GetRequest{Resource: "leases", Namespace: "default", Name: "a"}); !apierrors.IsNotFound(api.FromGRPC(err)) {
		t.Errorf("a refused lease was stored: %v", err)
	}
}

// Events live EventTTL (default one hour) after their last write, under an
// etcd lease; so do node Leases (above). Other objects have no lease.
func TestEventsExpireAfterTheirTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl, want time.Duration
	}{{0, time.Hour}, {5 * time.Minute, 5 * time.Minute}} {
		s := testapi.StartWith(t, testapi.Options{Configure: func(c *apiserver.Config) { c.EventTTL = tc.ttl }})
		ctx := context.Background()
		ev := &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"}, ObjectMeta: metav1.ObjectMeta{Name: "web.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"}, Type: corev1.EventTypeNormal, Reason: "Pulled"}
		if err := s.Admin.Create(ctx, api.Events, "default", ev); err != nil {
			t.Fatal(err)
		}
		if err := s.Admin.Create(ctx, api.Pods, "default", newPod("web")); err != nil {
			t.Fatal(err)
		}
		grantedTTL := func(key string) time.Duration {
			t.Helper()
			resp, err := s.Etcd.Client.Get(ctx, key)
			if err != nil || len(resp.Kvs) != 1 {
				t.Fatalf("get %s: %v", key, err)
			}
			if resp.Kvs[0].Lease == 0 {
				return 0
			}
			ttl, err := s.Etcd.Client.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
			if err != nil {
				t.Fatal(err)
			}
			return time.Duration(ttl.GrantedTTL) * time.Second
		}
		if got := grantedTTL(store.Key("events", "default", "web.1")); got != tc.want {
			t.Errorf("EventTTL %v: the event's etcd lease is %v, want %v", tc.ttl, got, tc.want)
		}
		if got := grantedTTL(store.Key("pods", "default", "web")); got != 0 {
			t.Errorf("a pod has an etcd lease of %v", got)
		}
	}
}
