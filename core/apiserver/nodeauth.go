package apiserver

// What an agent may do with objects, as Kubernetes' Node authorizer and
// NodeRestriction admission plugin allow a kubelet (system:node:<name>,
// group system:nodes):
//
//   - read pods, nodes, services, endpoints and leases;
//   - register and update its own Node and renew its own Lease in
//     kube-node-lease;
//   - write the status of, and delete, pods bound to it (it never creates
//     pods or changes their spec);
//   - create and update events;
//   - get a ConfigMap or Secret only while a pod bound to it uses it
//     (volumes, env, envFrom), and list or watch it alone (field selector
//     metadata.name=<name>) on the same terms; never list or watch them
//     wholesale — so a node cannot read another node's secrets or the
//     bootstrap tokens;
//   - create a CertificateSigningRequest for its own client certificate
//     (signer kubernetes.io/kube-apiserver-client-kubelet, CN
//     system:node:<name>, O system:nodes) and get the ones it made, by
//     name; never approve, deny, sign or delete one (the kubelet's
//     selfnodeclient permissions, narrowed to its own requests);
//   - nothing else.
//
// A status update of a pod applies to exactly the pod that was
// authorized: the body must carry that pod's resourceVersion (and its UID,
// if any), and the update is a compare-and-swap on it, so a pod deleted
// and made again under the same name on another node meanwhile is not
// written by the old node (NodeRestriction compares UIDs for the same
// reason).
//
// Which ConfigMaps and Secrets each node's pods use comes from podRefIndex,
// an in-memory index that follows the pods in etcd (the authorizer's graph
// in Kubernetes); when it does not know a reference yet (a pod bound a
// moment ago), the pods of the node are read from etcd to be sure.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/pki"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/core/store"
)

// Verbs of the object API, as the authorizer names them.
const (
	verbCreate = "create"
	verbGet    = "get"
	verbList   = "list"
	verbWatch  = "watch"
	verbUpdate = "update"
	verbDelete = "delete"
)

// nodeRequest is one object request made by an agent.
type nodeRequest struct {
	node        string // from the client certificate
	verb        string
	resource    string
	namespace   string
	name        string
	subresource string
	body        []byte // the object of a create or update
}

// authorizeObjects checks an object request against the caller's groups:
// admins may do anything, nodes what the rules above allow. body is the
// request's object (create, update) for its name.
func (s *Server) authorizeObjects(ctx context.Context, verb, resource, namespace, name, subresource string, body []byte) error {
	id, err := identityFrom(ctx)
	if err != nil {
		return err
	}
	if id.InGroup(pki.GroupAdmins) {
		return nil
	}
	node, ok := strings.CutPrefix(id.User, "system:node:")
	if !id.InGroup(pki.GroupNodes) || !ok || node == "" {
		return forbiddenFor(id.User, verb, resource, namespace, name, "")
	}
	if body != nil {
		// The object names itself; its namespace is the request's, else
		// its own, else default (setNamespace refuses a mismatch).
		meta := metaOf(body)
		if name == "" {
			name = meta.Name
		}
		if res, err := api.Lookup(resource); namespace == "" && err == nil && res.Namespaced {
			namespace = cmp.Or(meta.Namespace, metav1.NamespaceDefault)
		}
	}
	r := nodeRequest{node: node, verb: verb, resource: resource, namespace: namespace, name: name, subresource: subresource, body: body}
	if reason, err := s.nodeAllows(ctx, r); err != nil || reason != "" {
		if err != nil {
			return err
		}
		return forbiddenFor(id.User, verb, resource, namespace, name, reason)
	}
	return nil
}

// nodeAllows returns "" when the request is allowed, else why not.
func (s *Server) nodeAllows(ctx context.Context, r nodeRequest) (string, error) {
	read := r.verb == verbGet || r.verb == verbList || r.verb == verbWatch
	switch r.resource {
	case api.Services.Name, api.Endpoints.Name:
		if read {
			return "", nil
		}
	case api.Nodes.Name:
		switch {
		case read:
			return "", nil
		case r.verb == verbCreate && r.name == r.node:
			return "", nil // taints included: --register-with-taints
		case r.verb == verbUpdate && r.name == r.node:
			return s.nodeAllowsOwnNodeUpdate(ctx, r)
		case r.verb == verbCreate || r.verb == verbUpdate:
			return fmt.Sprintf("node %q may only change its own Node", r.node), nil
		}
	case api.Leases.Name:
		switch {
		case read:
			return "", nil
		case r.namespace == api.NodeLeaseNamespace && r.name == r.node && r.verb != verbList && r.verb != verbWatch:
			return "", nil
		}
		return fmt.Sprintf("node %q may only change its own Lease in %s", r.node, api.NodeLeaseNamespace), nil
	case api.Events.Name:
		if r.verb == verbCreate || r.verb == verbUpdate {
			return "", nil
		}
	case api.Pods.Name:
		return s.nodeAllowsPod(ctx, r, read)
	case api.CertificateSigningRequests.Name:
		return s.nodeAllowsCSR(ctx, r)
	case api.ConfigMaps.Name, api.Secrets.Name:
		if !read || r.name == "" {
			return fmt.Sprintf("node %q may only get, list or watch %s its pods use, one by name (list and watch with fieldSelector metadata.name=<name>)", r.node, r.resource), nil
		}
		uses, err := s.podRefs.nodeUses(ctx, r.node, registry.PodConfigRef{Resource: r.resource, Namespace: r.namespace, Name: r.name})
		if err != nil || uses {
			return "", err
		}
		return fmt.Sprintf("no relationship found between node '%s' and this object", r.node), nil
	}
	return fmt.Sprintf("nodes may not %s %s", r.verb, r.resource), nil
}

// nodeAllowsOwnNodeUpdate is NodeRestriction's rule for a node's own Node:
// its status and annotations are the agent's, but not its taints,
// unschedulable, pod CIDR, or labels other than those agents set, so a
// compromised agent cannot draw in pods that taints or node selectors keep
// away.
func (s *Server) nodeAllowsOwnNodeUpdate(ctx context.Context, r nodeRequest) (string, error) {
	var next corev1.Node
	if err := json.Unmarshal(r.body, &next); err != nil {
		return "", nil // the verb refuses the body with a clear error
	}
	_, obj, err := s.objects.get(ctx, api.Nodes.Name, "", r.name)
	if apierrors.IsNotFound(err) {
		return "", nil // the verb answers NotFound
	}
	if err != nil {
		return "", err
	}
	cur := obj.(*corev1.Node)
	if r.subresource == "" {
		switch {
		case !apiequality.Semantic.DeepEqual(next.Spec.Taints, cur.Spec.Taints):
			return fmt.Sprintf("node %q is not allowed to modify taints", r.node), nil
		case next.Spec.Unschedulable != cur.Spec.Unschedulable:
			return fmt.Sprintf("node %q is not allowed to cordon or uncordon itself", r.node), nil
		}
	}
	for _, k := range changedKeys(cur.Labels, next.Labels) {
		if !agentLabel(k) {
			return fmt.Sprintf("node %q is not allowed to modify label %q", r.node, k), nil
		}
	}
	return "", nil
}

// agentLabel: a label agents set on their Node (Kubernetes lets kubelets
// set kubernetes.io/{hostname,os,arch} and the node.kubernetes.io and
// kubelet.kubernetes.io prefixes; skiff's agents also label their roles).
func agentLabel(key string) bool {
	switch key {
	case "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch":
		return true
	}
	for _, prefix := range []string{"node-role.kubernetes.io/", "node.kubernetes.io/", "kubelet.kubernetes.io/"} {
		if strings.HasPrefix(key, prefix) {
			return true
		}
	}
	return false
}

// changedKeys are the keys added, removed or changed from a to b, sorted.
func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// nodeAllowsPod: reads, and status updates and deletes of the node's own
// pods.
func (s *Server) nodeAllowsPod(ctx context.Context, r nodeRequest, read bool) (string, error) {
	switch {
	case read:
		return "", nil
	case r.verb == verbUpdate && r.subresource != "status":
		return fmt.Sprintf("node %q may only update the status of pods", r.node), nil
	case r.verb != verbUpdate && r.verb != verbDelete:
		return fmt.Sprintf("node %q may not %s pods", r.node, r.verb), nil
	}
	_, obj, err := s.objects.get(ctx, api.Pods.Name, r.namespace, r.name)
	if apierrors.IsNotFound(err) {
		return "", nil // the verb answers NotFound
	}
	if err != nil {
		return "", err
	}
	pod := obj.(*corev1.Pod)
	if bound := pod.Spec.NodeName; bound != r.node {
		return fmt.Sprintf("node %q may only change pods bound to it (this one is on %q)", r.node, bound), nil
	}
	if r.verb == verbUpdate {
		return "", podUpdatePrecondition(r, pod)
	}
	return "", podDeletePrecondition(r, pod)
}

// podDeletePrecondition makes a node's pod delete apply to pod, the one
// just authorized, as the kubelet's does: the request must carry pod's UID
// as its precondition (the verb checks it again against what it deletes).
// Another UID (a pod made since under the same name, perhaps on another
// node) is a Conflict; none is refused.
func podDeletePrecondition(r nodeRequest, pod *corev1.Pod) error {
	var uid types.UID
	if r.body != nil {
		uid = metaOf(r.body).UID
	}
	switch uid {
	case pod.UID:
		return nil
	case "":
		return forbiddenFor("system:node:"+r.node, r.verb, r.resource, r.namespace, r.name,
			"a node deletes pods with the pod's UID as precondition")
	}
	return apierrors.NewConflict(api.Pods.GroupResource(), r.name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", uid, pod.UID))
}

// podUpdatePrecondition makes a node's pod update apply to pod, the
// version just authorized: the verb compares-and-swaps on the body's
// resourceVersion, so the body must name pod's. Another version (an older
// one, or one written since, perhaps a new pod under the same name) is a
// Conflict, as the verb would answer for a stale one; a body without a
// resourceVersion is refused.
func podUpdatePrecondition(r nodeRequest, pod *corev1.Pod) error {
	meta := metaOf(r.body)
	gr := api.Pods.GroupResource()
	if meta.UID != "" && meta.UID != pod.UID {
		return apierrors.NewConflict(gr, r.name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", meta.UID, pod.UID))
	}
	switch meta.ResourceVersion {
	case pod.ResourceVersion:
		return nil
	case "":
		return forbiddenFor("system:node:"+r.node, r.verb, r.resource, r.namespace, r.name,
			fmt.Sprintf("node %q must send the resourceVersion of the pod it updates", r.node))
	}
	return apierrors.NewConflict(gr, r.name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

// nodeAllowsCSR: a node creates requests for its own client certificate
// and gets those it made; approving, denying and signing are the
// controller's (and admins').
func (s *Server) nodeAllowsCSR(ctx context.Context, r nodeRequest) (string, error) {
	user := "system:node:" + r.node
	switch r.verb {
	case verbCreate:
		var csr certificatesv1.CertificateSigningRequest
		if err := json.Unmarshal(r.body, &csr); err != nil {
			return "", nil // the verb refuses the body with a clear error
		}
		if csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
			return fmt.Sprintf("node %q may only request certificates of signer %s, not %q", r.node, certificatesv1.KubeAPIServerClientKubeletSignerName, csr.Spec.SignerName), nil
		}
		req, err := pki.ParseRequest(csr.Spec.Request)
		if err != nil {
			return "", nil // the verb's validation names what is wrong
		}
		if cn, o := req.Subject.CommonName, req.Subject.Organization; cn != user || len(o) != 1 || o[0] != pki.GroupNodes {
			return fmt.Sprintf("node %q may only request its own client certificate (CN %s, O %s), not CN %q O %q", r.node, user, pki.GroupNodes, cn, o), nil
		}
		return "", nil
	case verbGet:
		_, obj, err := s.objects.get(ctx, r.resource, "", r.name)
		if apierrors.IsNotFound(err) {
			return "", nil // the verb answers NotFound
		}
		if err != nil {
			return "", err
		}
		if by := obj.(*certificatesv1.CertificateSigningRequest).Spec.Username; by != user {
			return fmt.Sprintf("node %q may only get the certificatesigningrequests it made (this one is %q's)", r.node, by), nil
		}
		return "", nil
	case verbList, verbWatch:
		return fmt.Sprintf("node %q may only get the certificatesigningrequests it made, one by name", r.node), nil
	case verbUpdate:
		return fmt.Sprintf("node %q may not approve, deny or sign certificatesigningrequests", r.node), nil
	}
	return fmt.Sprintf("nodes may not %s %s", r.verb, r.resource), nil
}

// forbiddenFor is Kubernetes' Forbidden answer.
func forbiddenFor(user, verb, resource, namespace, name, reason string) error {
	res, err := api.Lookup(resource)
	gr := res.GroupResource()
	if err != nil {
		gr.Resource = resource
	}
	msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q", user, verb, resource, gr.Group)
	if namespace != "" {
		msg += fmt.Sprintf(" in the namespace %q", namespace)
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(gr, name, errors.New(msg))
}

// metaOf reads the name and namespace of a request body (empty when it
// has none; a body that does not decode is refused by the verb).
func metaOf(body []byte) metav1.ObjectMeta {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(body, &m)
	return m.Metadata
}

// podRefIndex knows which ConfigMaps and Secrets the pods of each node use.
// It starts on first use and follows the pods until the server stops.
type podRefIndex struct {
	objects *objects
	ctx     context.Context

	start  sync.Once
	mu     sync.Mutex
	synced bool
	pods   map[string]podUse // by etcd key
	uses   map[string]int    // node + "\x00" + ref → pods using it
}

type podUse struct {
	node string
	refs []registry.PodConfigRef
}

func newPodRefIndex(ctx context.Context, o *objects) *podRefIndex {
	return &podRefIndex{objects: o, ctx: ctx, pods: map[string]podUse{}, uses: map[string]int{}}
}

func useKey(node string, ref registry.PodConfigRef) string {
	return node + "\x00" + ref.Resource + "/" + ref.Namespace + "/" + ref.Name
}

// nodeUses reports whether a pod bound to node uses ref. A miss is checked
// against etcd, so a pod bound a moment ago counts.
func (ix *podRefIndex) nodeUses(ctx context.Context, node string, ref registry.PodConfigRef) (bool, error) {
	ix.start.Do(func() { go ix.follow() })
	ix.mu.Lock()
	hit := ix.synced && ix.uses[useKey(node, ref)] > 0
	ix.mu.Unlock()
	if hit {
		return true, nil
	}
	objs, _, err := ix.objects.list(ctx, &apipb.ListRequest{Resource: api.Pods.Name, Namespace: ref.Namespace, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return false, err
	}
	for _, obj := range objs {
		for _, r := range registry.PodConfigRefs(obj.(*corev1.Pod)) {
			if r == ref {
				return true, nil
			}
		}
	}
	return false, nil
}

// follow lists the pods and then watches them, listing again whenever the
// watch ends (a compacted revision, an etcd hiccup) until the server stops.
func (ix *podRefIndex) follow() {
	for ix.ctx.Err() == nil {
		_ = ix.listAndWatch() // ends with the watch; misses fall back to etcd meanwhile
		ix.mu.Lock()
		ix.synced = false
		ix.mu.Unlock()
		select {
		case <-ix.ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (ix *podRefIndex) listAndWatch() error {
	prefix := store.ListPrefix(api.Pods.Name, "")
	kvs, rev, err := ix.objects.store.List(ix.ctx, prefix)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	ix.pods, ix.uses = map[string]podUse{}, map[string]int{}
	for _, kv := range kvs {
		ix.setLocked(kv.Key, ix.decode(kv))
	}
	ix.synced = true
	ix.mu.Unlock()
	events, errc := ix.objects.store.Watch(ix.ctx, prefix, rev)
	for ev := range events {
		use := podUse{}
		if ev.Type != store.Deleted {
			use = ix.decode(ev.KV)
		}
		ix.mu.Lock()
		ix.setLocked(ev.KV.Key, use)
		ix.mu.Unlock()
	}
	if err := <-errc; err != nil {
		return err
	}
	return errors.New("pod watch ended")
}

func (ix *podRefIndex) decode(kv store.KV) podUse {
	st, err := ix.objects.strategy(api.Pods.Name)
	if err != nil {
		return podUse{}
	}
	obj, err := ix.objects.decodeStored(st, kv)
	if err != nil {
		return podUse{}
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return podUse{}
	}
	return podUse{node: pod.Spec.NodeName, refs: registry.PodConfigRefs(pod)}
}

// setLocked replaces what the pod at key uses (an empty use removes it).
func (ix *podRefIndex) setLocked(key string, use podUse) {
	if old, ok := ix.pods[key]; ok {
		for _, r := range old.refs {
			k := useKey(old.node, r)
			if ix.uses[k]--; ix.uses[k] <= 0 {
				delete(ix.uses, k)
			}
		}
		delete(ix.pods, key)
	}
	if use.node == "" {
		return
	}
	ix.pods[key] = use
	for _, r := range use.refs {
		ix.uses[useKey(use.node, r)]++
	}
}
