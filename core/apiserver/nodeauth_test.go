package apiserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/pki"
)

// podOn is a pod bound to node that reads the secret and the ConfigMap
// through a volume and the environment.
func podOn(name, node, secret, configMap string) *corev1.Pod {
	p := newPod(name)
	p.Spec.NodeName = node
	p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
		ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}, Key: "k"}}}}
	return p
}

func mustCreate(t *testing.T, c *client.Client, res api.Resource, ns string, obj any) {
	t.Helper()
	if err := c.Create(context.Background(), res, ns, obj); err != nil {
		t.Fatalf("create %s: %v", res.Kind, err)
	}
}

// wantForbidden fails unless err is Forbidden; allowed is the opposite.
func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: %v, want Forbidden", what, err)
	}
}

func wantAllowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want it allowed", what, err)
	}
}

// TestNodeAuthorizer: an agent reads what it needs and writes only what is
// its own, as Kubernetes' Node authorizer and NodeRestriction allow.
func TestNodeAuthorizer(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a := e.clientAs(t, "system:node:a", pki.GroupNodes)
	for _, name := range []string{"on-a", "on-b", "unused"} {
		mustCreate(t, e.admin, api.Secrets, "default", &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"k": "v"}})
		mustCreate(t, e.admin, api.ConfigMaps, "default", &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}})
	}
	mustCreate(t, e.admin, api.Pods, "default", podOn("pa", "a", "on-a", "on-a"))
	mustCreate(t, e.admin, api.Pods, "default", podOn("pb", "b", "on-b", "on-b"))

	var s corev1.Secret
	var cm corev1.ConfigMap
	wantAllowed(t, "get a secret its pod mounts", a.Get(ctx, api.Secrets, "default", "on-a", &s))
	wantAllowed(t, "get a ConfigMap its pod reads", a.Get(ctx, api.ConfigMaps, "default", "on-a", &cm))
	wantForbidden(t, "get another node's secret", a.Get(ctx, api.Secrets, "default", "on-b", &s))
	wantForbidden(t, "get another node's ConfigMap", a.Get(ctx, api.ConfigMaps, "default", "on-b", &cm))
	wantForbidden(t, "get an unused secret", a.Get(ctx, api.Secrets, "default", "unused", &s))
	wantForbidden(t, "get a bootstrap token", a.Get(ctx, api.Secrets, "kube-system", "bootstrap-token-abcdef", &s))
	_, _, err := client.List[corev1.Secret](ctx, a, api.Secrets, "", client.ListOptions{})
	wantForbidden(t, "list secrets", err)
	_, _, err = a.Watch(ctx, api.ConfigMaps, "default", client.ListOptions{}, 0)
	if err == nil {
		// The refusal may come with the first receive.
		_, _, err = client.List[corev1.ConfigMap](ctx, a, api.ConfigMaps, "default", client.ListOptions{})
	}
	wantForbidden(t, "list or watch ConfigMaps", err)

	// One object by name, as the agent watches what its pods use: allowed
	// on the same terms as a get.
	one := func(name string) client.ListOptions {
		return client.ListOptions{FieldSelector: "metadata.name=" + name}
	}
	items, _, err := a.ListRaw(ctx, api.Secrets, "default", one("on-a"))
	wantAllowed(t, "list the one secret its pod mounts", err)
	if len(items) != 1 {
		t.Errorf("list of secret on-a by name: %d items, want 1", len(items))
	}
	_, _, err = a.ListRaw(ctx, api.Secrets, "default", one("on-b"))
	wantForbidden(t, "list another node's secret by name", err)
	_, _, err = a.ListRaw(ctx, api.Secrets, "default", client.ListOptions{FieldSelector: "metadata.name!=on-a"})
	wantForbidden(t, "list secrets but one", err)
	watchOne := func(name string) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		events, errc, err := a.Watch(wctx, api.ConfigMaps, "default", one(name), 0)
		if err != nil {
			return err
		}
		select { // the current state first, or the refusal
		case ev, ok := <-events:
			if ok && ev.Type == "ADDED" {
				return nil
			}
			return <-errc
		case <-time.After(5 * time.Second):
			return fmt.Errorf("watch of configmap %q: no event and no error in 5s", name)
		}
	}
	wantAllowed(t, "watch the ConfigMap its pod reads", watchOne("on-a"))
	wantForbidden(t, "watch another node's ConfigMap", watchOne("on-b"))

	// A pod bound this very moment counts at once; one deleted stops
	// counting once the index has seen it go.
	mustCreate(t, e.admin, api.Pods, "default", podOn("pa2", "a", "unused", "unused"))
	wantAllowed(t, "get the secret of a pod bound just now", a.Get(ctx, api.Secrets, "default", "unused", &s))
	// A watch of it opened meanwhile ends once the pod is gone.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	events, errc, err := a.Watch(wctx, api.Secrets, "default", one("unused"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := <-events; !ok || ev.Type != "ADDED" {
		t.Fatalf("watch of the secret of a pod bound just now: %v %v", ev.Type, <-errc)
	}
	if _, err := e.admin.Delete(ctx, api.Pods, "default", "pa2", client.DeleteOptions{GracePeriodSeconds: 0}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for err := a.Get(ctx, api.Secrets, "default", "unused", &s); !apierrors.IsForbidden(err); err = a.Get(ctx, api.Secrets, "default", "unused", &s) {
		if time.Now().After(deadline) {
			t.Fatalf("get the secret of a deleted pod: %v, want Forbidden", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var unused corev1.Secret
	if err := e.admin.Get(ctx, api.Secrets, "default", "unused", &unused); err != nil {
		t.Fatal(err)
	}
	unused.StringData = map[string]string{"k": "changed"}
	if err := e.admin.Update(ctx, api.Secrets, "default", &unused, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, ok := <-events:
		if ok {
			t.Fatalf("the watch delivered %s after the pod using the secret was gone", ev.Type)
		}
		wantForbidden(t, "watch the secret of a pod deleted since", <-errc)
	case <-time.After(10 * time.Second):
		t.Fatal("the watch neither ended nor delivered the update")
	}

	// Pods: read all, change the status of its own, delete its own only.
	var pa, pb corev1.Pod
	wantAllowed(t, "get another node's pod", a.Get(ctx, api.Pods, "default", "pb", &pb))
	wantAllowed(t, "get its pod", a.Get(ctx, api.Pods, "default", "pa", &pa))
	pa.Status.Phase = corev1.PodRunning
	wantAllowed(t, "update its pod's status", a.Update(ctx, api.Pods, "default", &pa, "status"))
	pb.Status.Phase = corev1.PodRunning
	wantForbidden(t, "update another node's pod's status", a.Update(ctx, api.Pods, "default", &pb, "status"))
	pb.Namespace = "default"
	wantForbidden(t, "update another node's pod naming the namespace only in the body", a.Update(ctx, api.Pods, "", &pb, "status"))
	pa.Labels = map[string]string{"x": "y"}
	wantForbidden(t, "update its pod's spec or metadata", a.Update(ctx, api.Pods, "default", &pa, ""))
	wantForbidden(t, "create a pod", a.Create(ctx, api.Pods, "default", podOn("new", "a", "on-a", "on-a")))
	_, err = a.Delete(ctx, api.Pods, "default", "pb", client.DeleteOptions{GracePeriodSeconds: 0})
	wantForbidden(t, "delete another node's pod", err)
	_, err = a.Delete(ctx, api.Pods, "default", "pa", client.DeleteOptions{GracePeriodSeconds: 0})
	wantForbidden(t, "delete its pod without a UID precondition", err)
	_, err = a.Delete(ctx, api.Pods, "default", "pa", client.DeleteOptions{GracePeriodSeconds: 0, PreconditionUID: "another-pod"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "precondition failed: UID in precondition: another-pod") {
		t.Errorf("delete its pod with another pod's UID: %v, want a Conflict naming the UIDs", err)
	}
	_, err = a.Delete(ctx, api.Pods, "default", "pa", client.DeleteOptions{GracePeriodSeconds: 0, PreconditionUID: string(pa.UID)})
	wantAllowed(t, "delete its pod with its UID as precondition", err)
	// The verb checks the precondition too, for everyone.
	_, err = e.admin.Delete(ctx, api.Pods, "default", "pb", client.DeleteOptions{GracePeriodSeconds: 0, PreconditionUID: "another-pod"})
	if !apierrors.IsConflict(err) {
		t.Errorf("admin delete with another pod's UID as precondition: %v, want a Conflict", err)
	}

	// Nodes and leases: its own only.
	mustCreate(t, e.admin, api.Nodes, "", &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "b"}})
	wantAllowed(t, "register itself", a.Create(ctx, api.Nodes, "", &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "a"}}))
	var nb corev1.Node
	wantAllowed(t, "get another node", a.Get(ctx, api.Nodes, "", "b", &nb))
	wantForbidden(t, "update another node", a.Update(ctx, api.Nodes, "", &nb, "status"))
	_, err = a.Delete(ctx, api.Nodes, "", "a", client.DeleteOptions{})
	wantForbidden(t, "delete its node", err)
	holder := "a"
	own := &coordinationv1.Lease{TypeMeta: metav1.TypeMeta{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: api.NodeLeaseNamespace}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
	wantAllowed(t, "create its lease", a.Create(ctx, api.Leases, api.NodeLeaseNamespace, own))
	wantAllowed(t, "renew its lease", a.Update(ctx, api.Leases, api.NodeLeaseNamespace, own, ""))
	other := own.DeepCopy()
	other.Name, other.ResourceVersion = "b", ""
	wantForbidden(t, "create another node's lease", a.Create(ctx, api.Leases, api.NodeLeaseNamespace, other))
	other.Name, other.Namespace = "a", "default"
	wantForbidden(t, "create a lease outside kube-node-lease", a.Create(ctx, api.Leases, "default", other))

	// Events: write; Services: read.
	wantAllowed(t, "create an event", a.Create(ctx, api.Events, "default", &corev1.Event{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: metav1.ObjectMeta{Name: "pa.1"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "pa"}, Type: corev1.EventTypeNormal, Reason: "Pulled"}))
	_, _, err = client.List[corev1.Service](ctx, a, api.Services, "", client.ListOptions{})
	wantAllowed(t, "list services", err)
	wantForbidden(t, "create a service", a.Create(ctx, api.Services, "default", &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}))

	// A node certificate whose name is not system:node:<name> gets nothing.
	odd := e.clientAs(t, "agent-7", pki.GroupNodes)
	wantForbidden(t, "a node without a node name", odd.Get(ctx, api.Pods, "default", "pb", &pb))
}

// NodeRestriction: a node updates its own status, annotations and the
// labels agents set, but not its taints, cordon or other labels.
func TestNodeMayNotLiftItsTaintsOrRelabelItself(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a := e.clientAs(t, "system:node:a", pki.GroupNodes)
	n := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"kubernetes.io/hostname": "a"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "secure", Effect: corev1.TaintEffectNoSchedule}}}}
	wantAllowed(t, "register with taints", a.Create(ctx, api.Nodes, "", n))
	get := func() *corev1.Node {
		t.Helper()
		var got corev1.Node
		if err := e.admin.Get(ctx, api.Nodes, "", "a", &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	cur := get()
	cur.Spec.Taints = nil
	wantForbidden(t, "remove its taint", a.Update(ctx, api.Nodes, "", cur, ""))
	cur = get()
	cur.Spec.Unschedulable = true
	wantForbidden(t, "cordon itself", a.Update(ctx, api.Nodes, "", cur, ""))
	cur = get()
	cur.Labels["dedicated"] = "secure"
	wantForbidden(t, "add a label of its choosing", a.Update(ctx, api.Nodes, "", cur, ""))
	cur = get()
	cur.Labels["dedicated"] = "secure"
	wantForbidden(t, "add a label through a status update", a.Update(ctx, api.Nodes, "", cur, "status"))
	cur = get()
	cur.Labels["node-role.kubernetes.io/worker"] = ""
	cur.Annotations = map[string]string{"skiff.dev/vtep": "x"}
	wantAllowed(t, "set its role label and an annotation", a.Update(ctx, api.Nodes, "", cur, ""))
	cur = get()
	cur.Status.Phase = corev1.NodeRunning
	wantAllowed(t, "write its status", a.Update(ctx, api.Nodes, "", cur, "status"))
	// An admin still labels and taints it.
	cur = get()
	cur.Labels["disktype"] = "ssd"
	cur.Spec.Taints = nil
	wantAllowed(t, "an admin labels and untaints it", e.admin.Update(ctx, api.Nodes, "", cur, ""))
}

// csrFor is a request of signer for subject, made with a fresh key.
func csrFor(t *testing.T, signer, cn string, groups ...string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	req, _, err := pki.NewClientRequest(cn, groups)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: "certificates.k8s.io/v1", Kind: "CertificateSigningRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: "csr-" + strings.NewReplacer(":", "-").Replace(cn) + "-" + signer[len(signer)-6:]},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: signer,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}},
	}
}

// A node asks for its own client certificate and reads its own requests;
// the requestor is who sent it, whatever the body says; it never asks for
// another identity, approves, lists or deletes.
func TestNodeCertificateSigningRequests(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a := e.clientAs(t, "system:node:a", pki.GroupNodes)
	b := e.clientAs(t, "system:node:b", pki.GroupNodes)
	kubelet := certificatesv1.KubeAPIServerClientKubeletSignerName

	own := csrFor(t, kubelet, "system:node:a", pki.GroupNodes)
	own.Spec.Username, own.Spec.Groups = "admin", []string{pki.GroupAdmins} // not trusted
	wantAllowed(t, "request its own client certificate", a.Create(ctx, api.CertificateSigningRequests, "", own))
	if own.Spec.Username != "system:node:a" || !slices.Equal(own.Spec.Groups, []string{pki.GroupNodes, "system:authenticated"}) {
		t.Errorf("requestor %q %v, want the caller system:node:a [system:nodes system:authenticated]", own.Spec.Username, own.Spec.Groups)
	}
	err := a.Create(ctx, api.CertificateSigningRequests, "", csrFor(t, kubelet, "system:node:b", pki.GroupNodes))
	wantForbidden(t, "request another node's certificate", err)
	if err == nil || !strings.Contains(err.Error(), `node "a" may only request its own client certificate (CN system:node:a, O system:nodes), not CN "system:node:b"`) {
		t.Errorf("message: %v", err)
	}
	wantForbidden(t, "request its name in system:masters", a.Create(ctx, api.CertificateSigningRequests, "", csrFor(t, kubelet, "system:node:a", pki.GroupNodes, pki.GroupAdmins)))
	wantForbidden(t, "request an admin certificate", a.Create(ctx, api.CertificateSigningRequests, "", csrFor(t, kubelet, "admin", pki.GroupAdmins)))
	wantForbidden(t, "use another signer", a.Create(ctx, api.CertificateSigningRequests, "", csrFor(t, certificatesv1.KubeAPIServerClientSignerName, "system:node:a", pki.GroupNodes)))

	var got certificatesv1.CertificateSigningRequest
	wantAllowed(t, "get its own request", a.Get(ctx, api.CertificateSigningRequests, "", own.Name, &got))
	wantForbidden(t, "get another node's request", b.Get(ctx, api.CertificateSigningRequests, "", own.Name, &got))
	_, _, err = client.List[certificatesv1.CertificateSigningRequest](ctx, a, api.CertificateSigningRequests, "", client.ListOptions{})
	wantForbidden(t, "list requests", err)
	got.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Self"}}
	wantForbidden(t, "approve its own request", a.Update(ctx, api.CertificateSigningRequests, "", &got, "approval"))
	wantForbidden(t, "write a certificate", a.Update(ctx, api.CertificateSigningRequests, "", &got, "status"))
	_, err = a.Delete(ctx, api.CertificateSigningRequests, "", own.Name, client.DeleteOptions{})
	wantForbidden(t, "delete its request", err)

	// An admin approves; a node with no name gets nothing.
	wantAllowed(t, "an admin approves", e.admin.Update(ctx, api.CertificateSigningRequests, "", &got, "approval"))
	odd := e.clientAs(t, "agent-7", pki.GroupNodes)
	wantForbidden(t, "a node without a node name", odd.Create(ctx, api.CertificateSigningRequests, "", csrFor(t, kubelet, "agent-7", pki.GroupNodes)))
}

// A node's pod status update names the version it read: another version,
// or none, is refused before anything is written.
func TestNodePodStatusUpdateNamesThePodVersion(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	a := e.clientAs(t, "system:node:a", pki.GroupNodes)
	mustCreate(t, e.admin, api.Pods, "default", podOn("p", "a", "s", "c"))
	var stale corev1.Pod
	if err := a.Get(ctx, api.Pods, "default", "p", &stale); err != nil {
		t.Fatal(err)
	}
	fresh := stale.DeepCopy()
	fresh.Status.Phase = corev1.PodPending
	wantAllowed(t, "update at the version read", a.Update(ctx, api.Pods, "default", fresh, "status"))

	stale.Status.Phase = corev1.PodFailed
	if err := a.Update(ctx, api.Pods, "default", stale.DeepCopy(), "status"); !apierrors.IsConflict(err) {
		t.Errorf("update at an older version: %v, want Conflict", err)
	}
	none := fresh.DeepCopy()
	none.ResourceVersion = ""
	if err := a.Update(ctx, api.Pods, "default", none, "status"); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "must send the resourceVersion") {
		t.Errorf("update without a version: %v, want Forbidden", err)
	}
	uid := fresh.DeepCopy()
	uid.UID = "another-pod"
	if err := a.Update(ctx, api.Pods, "default", uid, "status"); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "UID in precondition") {
		t.Errorf("update of another pod's UID: %v, want Conflict", err)
	}
	// An admin's unconditional update is still fine.
	none.Status.Phase = corev1.PodRunning
	wantAllowed(t, "an admin's update without a version", e.admin.Update(ctx, api.Pods, "default", none, "status"))
	var cur corev1.Pod
	if err := e.admin.Get(ctx, api.Pods, "default", "p", &cur); err != nil || cur.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %q (%v), want Running: a refused update wrote something", cur.Status.Phase, err)
	}
}
