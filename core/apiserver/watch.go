package apiserver

import (
	"context"
	"encoding/json"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/core/store"
)

// watch streams changes of a resource. With resourceVersion 0 it first sends
// the current state as ADDED events, then every change after that listing.
func (o *objects) watch(ctx context.Context, req *apipb.WatchRequest, send func(*apipb.WatchEvent) error) error {
	st, err := o.strategy(req.Resource)
	if err != nil {
		return err
	}
	sel, err := parseSelector(req.LabelSelector, req.FieldSelector)
	if err != nil {
		return err
	}
	ns := req.Namespace
	if !st.Resource().Namespaced {
		ns = ""
	}
	rev := req.ResourceVersion
	if rev == 0 {
		objs, listRev, err := o.list(ctx, &apipb.ListRequest{Resource: req.Resource, Namespace: ns, LabelSelector: req.LabelSelector, FieldSelector: req.FieldSelector})
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if err := sendObject(send, string(store.Added), obj); err != nil {
				return err
			}
		}
		rev = listRev
	}
	events, errc := o.store.Watch(ctx, store.ListPrefix(st.Resource().Name, ns), rev)
	for ev := range events {
		obj, err := o.decodeStored(st, ev.KV)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		if !sel.matches(st, obj) {
			continue
		}
		if err := sendObject(send, string(ev.Type), obj); err != nil {
			return err
		}
	}
	if err := <-errc; err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return apierrors.NewResourceExpired("too old resource version: " + err.Error())
		}
		return apierrors.NewInternalError(err)
	}
	return ctx.Err()
}

func sendObject(send func(*apipb.WatchEvent) error, typ string, obj registry.Object) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return send(&apipb.WatchEvent{Type: typ, Object: &apipb.Object{Json: data}})
}
