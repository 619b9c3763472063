// Package apiserver serves the skiff API (skiff.api.v1.Skiff) over gRPC with
// TLS: generic create/get/list/update/delete/watch over the resources of the
// registry, kept in etcd through the store, and the streaming verbs relayed
// to the agent of the pod's node.
package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/core/store"
)

// objects implements the generic object verbs over the store.
type objects struct {
	store      *store.Store
	strategies registry.Strategies
	now        func() time.Time
	// transformers change stored values per resource: secrets are
	// encrypted at rest (encryption.go).
	transformers map[string]ValueTransformer
	// serviceIPs allocates Service ClusterIPs (serviceips.go); nil is the
	// default range.
	serviceIPs *serviceIPs
}

// writeOptions gives objects that expire their time to live: events
// (Kubernetes' --event-ttl) and node leases (registry.TTLStrategy).
func (o *objects) writeOptions(st registry.Strategy, obj registry.Object) []store.WriteOption {
	if ts, ok := st.(registry.TTLStrategy); ok {
		if ttl := ts.TTL(obj); ttl > 0 {
			return []store.WriteOption{store.WithTTL(ttl)}
		}
	}
	return nil
}

func (o *objects) strategy(resource string) (registry.Strategy, error) {
	return o.strategies.Get(resource)
}

// key builds the etcd key, checking the namespace matches the resource scope.
func key(st registry.Strategy, namespace, name string) string {
	if !st.Resource().Namespaced {
		namespace = ""
	}
	return store.Key(st.Resource().Name, namespace, name)
}

// decodeStored decodes a stored object (already validated) and stamps its
// resourceVersion.
func (o *objects) decodeStored(st registry.Strategy, kv store.KV) (registry.Object, error) {
	value := kv.Value
	// Encryption at rest: decrypt (encryption.go).
	if t := o.transformers[st.Resource().Name]; t != nil {
		var err error
		if value, err = t.FromStorage(kv.Key, value); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	obj := st.New()
	if err := json.Unmarshal(value, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", kv.Key, err)
	}
	obj.SetResourceVersion(store.FormatRevision(kv.Revision))
	return obj, nil
}

func (o *objects) encode(st registry.Strategy, obj registry.Object) ([]byte, error) {
	obj.SetResourceVersion("")
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %q: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	// Encryption at rest: encrypt (encryption.go).
	if t := o.transformers[st.Resource().Name]; t != nil {
		if data, err = t.ToStorage(key(st, obj.GetNamespace(), obj.GetName()), data); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	}
	return data, nil
}

func toPB(obj registry.Object) (*apipb.Object, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &apipb.Object{Json: data}, nil
}

// storeError maps store errors to Kubernetes API errors naming the object.
func storeError(res api.Resource, name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(res.GroupResource(), name)
	case errors.Is(err, store.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(res.GroupResource(), name)
	case errors.Is(err, store.ErrConflict):
		return apierrors.NewConflict(res.GroupResource(), name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	return apierrors.NewInternalError(err)
}

// setNamespace reconciles the request's namespace with the object's.
func setNamespace(st registry.Strategy, obj registry.Object, reqNS string) error {
	if !st.Resource().Namespaced {
		obj.SetNamespace("")
		return nil
	}
	switch {
	case obj.GetNamespace() == "" && reqNS == "":
		obj.SetNamespace(metav1.NamespaceDefault)
	case obj.GetNamespace() == "":
		obj.SetNamespace(reqNS)
	case reqNS != "" && obj.GetNamespace() != reqNS:
		return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", obj.GetNamespace(), reqNS))
	}
	return nil
}

func (o *objects) create(ctx context.Context, req *apipb.CreateRequest) (registry.Object, error) {
	st, err := o.strategy(req.Resource)
	if err != nil {
		return nil, err
	}
	obj, err := st.Decode(req.Json)
	if err != nil {
		return nil, err
	}
	if err := setNamespace(st, obj, req.Namespace); err != nil {
		return nil, err
	}
	registry.PrepareMetaForCreate(obj, o.now())
	st.PrepareForCreate(obj)
	// A CertificateSigningRequest's requestor is the caller (csr.go).
	if err := setCSRRequestor(ctx, obj); err != nil {
		return nil, err
	}
	if errs := st.Validate(obj); len(errs) > 0 {
		return nil, apierrors.NewInvalid(kindOf(st), obj.GetName(), errs)
	}
	// Service ClusterIPs: allocate before the write, release if it fails
	// (serviceips.go).
	releaseIP, err := o.allocateServiceIP(ctx, obj, req.DryRun)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return obj, nil
	}
	data, err := o.encode(st, obj)
	if err != nil {
		releaseIP()
		return nil, err
	}
	rev, err := o.store.Create(ctx, key(st, obj.GetNamespace(), obj.GetName()), data, o.writeOptions(st, obj)...)
	if err != nil {
		releaseIP()
		return nil, storeError(st.Resource(), obj.GetName(), err)
	}
	obj.SetResourceVersion(store.FormatRevision(rev))
	return obj, nil
}

func (o *objects) get(ctx context.Context, resource, namespace, name string) (registry.Strategy, registry.Object, error) {
	st, err := o.strategy(resource)
	if err != nil {
		return nil, nil, err
	}
	kv, err := o.store.Get(ctx, key(st, namespace, name))
	if err != nil {
		return nil, nil, storeError(st.Resource(), name, err)
	}
	obj, err := o.decodeStored(st, kv)
	return st, obj, err
}

// selector is a parsed label and field selector.
type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func parseSelector(labelSel, fieldSel string) (selector, error) {
	l, err := labels.Parse(labelSel)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("label selector %q: %v", labelSel, err))
	}
	f, err := fields.ParseSelector(fieldSel)
	if err != nil {
		return selector{}, apierrors.NewBadRequest(fmt.Sprintf("field selector %q: %v", fieldSel, err))
	}
	return selector{labels: l, fields: f}, nil
}

func (s selector) matches(st registry.Strategy, obj registry.Object) bool {
	return s.labels.Matches(labels.Set(obj.GetLabels())) && s.fields.Matches(st.Fields(obj))
}

func (o *objects) list(ctx context.Context, req *apipb.ListRequest) ([]registry.Object, int64, error) {
	st, err := o.strategy(req.Resource)
	if err != nil {
		return nil, 0, err
	}
	sel, err := parseSelector(req.LabelSelector, req.FieldSelector)
	if err != nil {
		return nil, 0, err
	}
	ns := req.Namespace
	if !st.Resource().Namespaced {
		ns = ""
	}
	kvs, rev, err := o.store.List(ctx, store.ListPrefix(st.Resource().Name, ns))
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	var out []registry.Object
	for _, kv := range kvs {
		obj, err := o.decodeStored(st, kv)
		if err != nil {
			return nil, 0, apierrors.NewInternalError(err)
		}
		if sel.matches(st, obj) {
			out = append(out, obj)
		}
	}
	return out, rev, nil
}

func (o *objects) update(ctx context.Context, req *apipb.UpdateRequest) (registry.Object, error) {
	st, err := o.strategy(req.Resource)
	if err != nil {
		return nil, err
	}
	obj, err := st.Decode(req.Json)
	if err != nil {
		return nil, err
	}
	if err := setNamespace(st, obj, req.Namespace); err != nil {
		return nil, err
	}
	_, old, err := o.get(ctx, req.Resource, obj.GetNamespace(), obj.GetName())
	if err != nil {
		return nil, err
	}
	rev, err := store.ParseRevision(obj.GetResourceVersion())
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if rev == 0 {
		// An update without a resourceVersion is unconditional, as in
		// Kubernetes; it is still atomic against the version just read.
		rev, _ = store.ParseRevision(old.GetResourceVersion())
	}
	if err := st.PrepareForUpdate(obj, old, req.Subresource); err != nil {
		return nil, err
	}
	if errs := st.ValidateUpdate(obj, old); len(errs) > 0 {
		return nil, apierrors.NewInvalid(kindOf(st), obj.GetName(), errs)
	}
	return o.write(ctx, st, obj, rev)
}

func (o *objects) write(ctx context.Context, st registry.Strategy, obj registry.Object, rev int64) (registry.Object, error) {
	data, err := o.encode(st, obj)
	if err != nil {
		return nil, err
	}
	newRev, err := o.store.Update(ctx, key(st, obj.GetNamespace(), obj.GetName()), rev, data, o.writeOptions(st, obj)...)
	if err != nil {
		return nil, storeError(st.Resource(), obj.GetName(), err)
	}
	obj.SetResourceVersion(store.FormatRevision(newRev))
	return obj, nil
}

// delete removes an object. A pod bound to a node is deleted gracefully: it
// gets a deletionTimestamp and the node's agent removes it once its
// containers have stopped (it then deletes with grace period 0).
func (o *objects) delete(ctx context.Context, req *apipb.DeleteRequest) (registry.Object, error) {
	st, obj, err := o.get(ctx, req.Resource, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	rev, _ := store.ParseRevision(obj.GetResourceVersion())
	if uid := req.PreconditionUid; uid != "" && uid != string(obj.GetUID()) {
		return nil, apierrors.NewConflict(st.Resource().GroupResource(), req.Name,
			fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", uid, obj.GetUID()))
	}
	if pod, ok := obj.(*corev1.Pod); ok && !req.Force && pod.Spec.NodeName != "" && req.GracePeriodSeconds != 0 {
		return o.markPodDeleted(ctx, st, pod, rev, req.GracePeriodSeconds)
	}
	// With a precondition, delete exactly the version checked (a CAS):
	// the object may be replaced in between.
	casRev := int64(0)
	if req.PreconditionUid != "" {
		casRev = rev
	}
	if _, err := o.store.Delete(ctx, key(st, obj.GetNamespace(), obj.GetName()), casRev); err != nil {
		return nil, storeError(st.Resource(), req.Name, err)
	}
	o.releaseServiceIP(obj) // serviceips.go
	return obj, nil
}

func (o *objects) markPodDeleted(ctx context.Context, st registry.Strategy, pod *corev1.Pod, rev, grace int64) (registry.Object, error) {
	if grace < 0 {
		grace = 30
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = *pod.Spec.TerminationGracePeriodSeconds
		}
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds <= grace {
		return pod, nil // already terminating with an equal or shorter grace period
	}
	at := metav1.NewTime(o.now().Add(time.Duration(grace) * time.Second))
	pod.DeletionTimestamp = &at
	pod.DeletionGracePeriodSeconds = &grace
	return o.write(ctx, st, pod, rev)
}

func kindOf(st registry.Strategy) schema.GroupKind {
	return schema.GroupKind{Group: st.Resource().Group, Kind: st.Resource().Kind}
}
