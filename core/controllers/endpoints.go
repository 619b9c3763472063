//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// Endpoints keeps one Endpoints object per Service that has a selector, as
// Kubernetes' endpoints controller does: the selected pods that have an IP,
// Ready ones in addresses and the others in notReadyAddresses, with each
// service port resolved per pod (a targetPort name is looked up among the
// pod's container ports, so pods may serve it on different numbers). A
// Service without a selector is left alone (its Endpoints are the user's);
// deleting a Service deletes its Endpoints.
//
// It keeps services and pods from two watches and syncs the services a
// change touches; every resyncInterval it syncs them all, which also
// repairs Endpoints changed behind its back.
type Endpoints struct {
	Client *client.Client
	Log    *slog.Logger

	mu       sync.Mutex
	services map[string]*corev1.Service // "ns/name"
	pods     map[string]*corev1.Pod     // "ns/name"
	dirty    map[string]bool            // service keys to sync
	wake     chan struct{}
}

const endpointsResync = 30 * time.Second

// Run runs until ctx ends.
func (e *Endpoints) Run(ctx context.Context) {
	e.services = map[string]*corev1.Service{}
	e.pods = map[string]*corev1.Pod{}
	e.dirty = map[string]bool{}
	e.wake = make(chan struct{}, 1)
	// Fill the caches before the first sync, so an Endpoints object is not
	// deleted for a service the watch has not delivered yet.
	if svcs, _, err := client.List[corev1.Service](ctx, e.Client, api.Services, "", client.ListOptions{}); err == nil {
		for i := range svcs {
			e.services[objKey(&svcs[i])] = &svcs[i]
			e.dirty[objKey(&svcs[i])] = true
		}
	}
	if pods, _, err := client.List[corev1.Pod](ctx, e.Client, api.Pods, "", client.ListOptions{}); err == nil {
		for i := range pods {
			e.pods[objKey(&pods[i])] = &pods[i]
		}
	}
	// Endpoints left from services deleted while the server was down.
	if eps, _, err := client.List[corev1.Endpoints](ctx, e.Client, api.Endpoints, "", client.ListOptions{}); err == nil {
		for i := range eps {
			e.dirty[objKey(&eps[i])] = true
		}
	}
	go watchLoop(ctx, e.Client, api.Services, e.Log, e.onService)
	go watchLoop(ctx, e.Client, api.Pods, e.Log, e.onPod)
	e.kick()
	tick := time.NewTicker(endpointsResync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.mu.Lock()
			for k := range e.services {
				e.dirty[k] = true
			}
			e.mu.Unlock()
		case <-e.wake:
		}
		e.mu.Lock()
		keys := make([]string, 0, len(e.dirty))
		for k := range e.dirty {
			keys = append(keys, k)
		}
		e.dirty = map[string]bool{}
		e.mu.Unlock()
		sort.Strings(keys)
		for _, k := range keys {
			if err := e.sync(ctx, k); err != nil && ctx.Err() == nil {
				e.Log.Warn("sync endpoints", "service", k, "error", err)
				time.AfterFunc(time.Second, func() { e.markDirty(k) })
			}
		}
	}
}

func objKey(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

func (e *Endpoints) kick() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *Endpoints) markDirty(keys ...string) {
	e.mu.Lock()
	for _, k := range keys {
		e.dirty[k] = true
	}
	e.mu.Unlock()
	e.kick()
}

func (e *Endpoints) onService(typ string, svc *corev1.Service) {
	k := objKey(svc)
	e.mu.Lock()
	if typ == "DELETED" {
		delete(e.services, k)
	} else {
		e.services[k] = svc
	}
	e.mu.Unlock()
	e.markDirty(k)
}

// onPod marks the services that select the pod, before or after the change.
func (e *Endpoints) onPod(typ string, pod *corev1.Pod) {
	k := objKey(pod)
	e.mu.Lock()
	old := e.pods[k]
	if typ == "DELETED" {
		delete(e.pods, k)
	} else {
		e.pods[k] = pod
	}
	var touched []string
	for sk, svc := range e.services {
		if svc.Namespace != pod.Namespace || svc.Spec.Selector == nil {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		if sel.Matches(labels.Set(pod.Labels)) || (old != nil && sel.Matches(labels.Set(old.Labels))) {
			touched = append(touched, sk)
		}
	}
	e.mu.Unlock()
	if len(touched) > 0 {
		e.markDirty(touched...)
	}
}

// sync makes the Endpoints of one service what its pods say.
func (e *Endpoints) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	e.mu.Lock()
	svc := e.services[key]
	var pods []*corev1.Pod
	if svc != nil && svc.Spec.Selector != nil {
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		for _, p := range e.pods {
			if p.Namespace == ns && sel.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
			}
		}
	}
	e.mu.Unlock()
	if svc == nil {
		_, err := e.Client.Delete(ctx, api.Endpoints, ns, name, client.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %q in %q: %w", name, ns, err)
		}
		return nil
	}
	if svc.Spec.Selector == nil {
		return nil
	}
	want := &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: svc.Labels},
		Subsets:    EndpointSubsets(svc, pods),
	}
	var cur corev1.Endpoints
	err := e.Client.Get(ctx, api.Endpoints, ns, name, &cur)
	switch {
	case apierrors.IsNotFound(err):
		if err := e.Client.Create(ctx, api.Endpoints, ns, want); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create endpoints %q in %q: %w", name, ns, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get endpoints %q in %q: %w", name, ns, err)
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) {
		return nil
	}
	cur.Subsets, cur.Labels = want.Subsets, want.Labels
	if err := e.Client.Update(ctx, api.Endpoints, ns, &cur, ""); err != nil {
		return fmt.Errorf("update endpoints %q in %q: %w", name, ns, err)
	}
	return nil
}

// EndpointSubsets computes a service's subsets from the pods its selector
// picks: pods grouped by the ports they resolve, Ready pods in Addresses,
// the others (with an IP, not terminating, not finished) in
// NotReadyAddresses. Everything is sorted, so equal inputs give equal
// output.
func EndpointSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	for _, pod := range pods {
		if pod.Status.PodIP == "" || pod.DeletionTimestamp != nil ||
			pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		var ports []corev1.EndpointPort
		for _, sp := range svc.Spec.Ports {
			if n, ok := resolveTargetPort(pod, sp); ok {
				ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: n, Protocol: sp.Protocol})
			}
		}
		if len(ports) == 0 && len(svc.Spec.Ports) > 0 {
			continue
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i].Name < ports[j].Name })
		k := fmt.Sprint(ports)
		g := groups[k]
		if g == nil {
			g = &group{ports: ports}
			groups[k] = g
		}
		addr := corev1.EndpointAddress{
			IP: pod.Status.PodIP,
			TargetRef: &corev1.ObjectReference{
				Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		if podReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []corev1.EndpointSubset
	for _, k := range keys {
		g := groups[k]
		byIP := func(a []corev1.EndpointAddress) []corev1.EndpointAddress {
			sort.Slice(a, func(i, j int) bool { return a[i].IP < a[j].IP })
			return a
		}
		out = append(out, corev1.EndpointSubset{Addresses: byIP(g.ready), NotReadyAddresses: byIP(g.notReady), Ports: g.ports})
	}
	return out
}

// resolveTargetPort finds the pod's port for a service port: the number,
// or the container port of that name (and protocol).
func resolveTargetPort(pod *corev1.Pod, sp corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	for _, c := range pod.Spec.Containers {
		for _, cp := range c.Ports {
			proto := cp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			if cp.Name == tp.StrVal && proto == sp.Protocol {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
