package controllers

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
)

// TestNodeLifecycleMarksSilentNode: a node whose Lease expired is marked
// at once; a node never seen with a Lease gets the grace period first; a
// node that renews is left alone; a node whose agent comes back is not
// marked again.
func TestNodeLifecycleMarksSilentNode(t *testing.T) {
	srv := testapi.Start(t)
	ctx := context.Background()
	c := srv.Admin
	for _, name := range []string{"expired", "never", "alive"} {
		n := readyNode(name, "1", "1Gi")
		if err := c.Create(ctx, api.Nodes, "", n); err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions[0].Reason = "KubeletReady"
		if err := c.Update(ctx, api.Nodes, "", n, "status"); err != nil {
			t.Fatal(err)
		}
		p := podRequesting("p-"+name, "", "")
		p.Spec.NodeName = name
		if err := c.Create(ctx, api.Pods, "default", p); err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if err := c.Update(ctx, api.Pods, "default", p, "status"); err != nil {
			t.Fatal(err)
		}
	}
	createLease(t, c, "expired")
	createLease(t, c, "alive")

	now := time.Now()
	nl := &NodeLifecycle{Client: c, GracePeriod: 30 * time.Second, Log: slog.Default(), Now: func() time.Time { return now }}
	nl.check(ctx)
	for _, name := range []string{"expired", "never", "alive"} {
		if s := nodeReady(t, c, name).Status; s != corev1.ConditionTrue {
			t.Errorf("first check: node %s Ready = %s, want True", name, s)
		}
	}

	// etcd expires the Lease of "expired" (deleted here, as etcd would).
	if _, err := c.Delete(ctx, api.Leases, api.NodeLeaseNamespace, "expired", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	nl.check(ctx)
	if cond := nodeReady(t, c, "expired"); cond.Status != corev1.ConditionUnknown || cond.Reason != ReasonNodeStatusUnknown || cond.Message != MessageNodeStatusUnknown {
		t.Errorf("node whose lease expired: Ready = %+v, want Unknown/%s", cond, ReasonNodeStatusUnknown)
	}
	if s := podReadyStatus(t, c, "p-expired"); s != corev1.ConditionFalse {
		t.Errorf("pod on node whose lease expired: Ready = %s, want False", s)
	}
	if s := nodeReady(t, c, "never").Status; s != corev1.ConditionTrue {
		t.Errorf("node without a lease, within the grace period: Ready = %s, want True", s)
	}

	// The grace period passes: the node that never had a Lease is marked
	// too; the one that renews is not.
	now = now.Add(31 * time.Second)
	nl.check(ctx)
	if s := nodeReady(t, c, "never").Status; s != corev1.ConditionUnknown {
		t.Errorf("node without a lease after the grace period: Ready = %s, want Unknown", s)
	}
	if s := podReadyStatus(t, c, "p-never"); s != corev1.ConditionFalse {
		t.Errorf("pod on node without a lease: Ready = %s, want False", s)
	}
	if s := nodeReady(t, c, "alive").Status; s != corev1.ConditionTrue {
		t.Errorf("node with a lease: Ready = %s, want True", s)
	}
	if s := podReadyStatus(t, c, "p-alive"); s != corev1.ConditionTrue {
		t.Errorf("pod on node with a lease: Ready = %s, want True", s)
	}

	// The agent comes back: it renews its Lease and writes the node Ready;
	// the controller leaves it alone.
	createLease(t, c, "expired")
	n := getNode(t, c, "expired")
	n.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}
	if err := c.Update(ctx, api.Nodes, "", n, "status"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	nl.check(ctx)
	if s := nodeReady(t, c, "expired").Status; s != corev1.ConditionTrue {
		t.Errorf("node back: Ready = %s, want True", s)
	}
}

func createLease(t *testing.T, c *client.Client, node string) {
	t.Helper()
	holder := node
	l := &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: api.NodeLeaseNamespace},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if err := c.Create(context.Background(), api.Leases, api.NodeLeaseNamespace, l); err != nil {
		t.Fatal(err)
	}
}

func getNode(t *testing.T, c *client.Client, name string) *corev1.Node {
	t.Helper()
	var n corev1.Node
	if err := c.Get(context.Background(), api.Nodes, "", name, &n); err != nil {
		t.Fatal(err)
	}
	return &n
}

func nodeReady(t *testing.T, c *client.Client, name string) corev1.NodeCondition {
	t.Helper()
	if cond := readyOf(getNode(t, c, name)); cond != nil {
		return *cond
	}
	return corev1.NodeCondition{}
}

func podReadyStatus(t *testing.T, c *client.Client, name string) corev1.ConditionStatus {
	t.Helper()
	var p corev1.Pod
	if err := c.Get(context.Background(), api.Pods, "default", name, &p); err != nil {
		t.Fatal(err)
	}
	for _, pc := range p.Status.Conditions {
		if pc.Type == corev1.PodReady {
			return pc.Status
		}
	}
	return ""
}

func TestValidateNodeTimings(t *testing.T) {
	for _, tc := range []struct {
		grace, heartbeat time.Duration
		want             string
	}{
		{0, 0, ""},
		{4 * time.Second, time.Second, ""},
		{4 * time.Second, 2 * time.Second, ""},
		{time.Second, 0, "--node-grace-period 1s: must be at least 2s"},
		{5 * time.Second, 0, "--node-grace-period 5s must be at least twice --heartbeat-interval 10s"},
		{0, 30 * time.Second, "--node-grace-period 40s must be at least twice --heartbeat-interval 30s"},
		{0, -time.Second, "--heartbeat-interval -1s: must be positive"},
	} {
		err := ValidateNodeTimings(tc.grace, tc.heartbeat)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ValidateNodeTimings(%v, %v) = %v, want %q", tc.grace, tc.heartbeat, err, tc.want)
		}
	}
}
