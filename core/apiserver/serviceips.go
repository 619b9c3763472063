package apiserver

// Service ClusterIP allocation.
//
// Every allocated IP has a key of its own, /skiff/ranges/serviceips/<ip>,
// whose value names the service. A key is made with create-if-absent
// (Txn(If(CreateRevision == 0))), so two services can never hold one IP,
// whichever API servers create them. The key is made just before the
// service is written and removed again if that write fails; deleting the
// service removes it. A server that dies between the two writes leaves a
// key without a service: that IP stays unused (never given twice), and the
// next server start takes it back (repairServiceIPs, as Kubernetes' repair
// controller does), once it is older than a create can take.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/core/store"
)

// DefaultServiceCIDR is Kubernetes' default service range.
const DefaultServiceCIDR = "10.96.0.0/12"

// serviceIPsPrefix holds one key per allocated ClusterIP.
const serviceIPsPrefix = "/skiff/ranges/serviceips/"

// serviceIPs allocates ClusterIPs from a service CIDR.
type serviceIPs struct {
	cidr netip.Prefix
}

var defaultServiceIPs = sync.OnceValue(func() *serviceIPs {
	return &serviceIPs{cidr: netip.MustParsePrefix(DefaultServiceCIDR)}
})

// SetServiceCIDR sets the range ClusterIPs come from (default
// 10.96.0.0/12). Call it before Serve.
func (s *Server) SetServiceCIDR(cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	if !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 8 {
		return fmt.Errorf("service CIDR %q: must be an IPv4 range between /8 and /30", cidr)
	}
	s.objects.serviceIPs = &serviceIPs{cidr: p.Masked()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.objects.repairServiceIPs(ctx, repairGrace); err != nil {
		return fmt.Errorf("service IPs: repair: %w", err)
	}
	return nil
}

// repairGrace is how old an allocation without its service must be before
// it is taken back: far longer than the two writes of one create.
const repairGrace = time.Minute

// repairServiceIPs frees the allocations no service holds that are older
// than grace. Allocations are listed before services, so a service created
// meanwhile is seen holding its IP.
func (o *objects) repairServiceIPs(ctx context.Context, grace time.Duration) error {
	allocs, _, err := o.store.List(ctx, serviceIPsPrefix)
	if err != nil {
		return err
	}
	svcs, _, err := o.store.List(ctx, store.ListPrefix(api.Services.Name, ""))
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, kv := range svcs {
		var svc corev1.Service
		if json.Unmarshal(kv.Value, &svc) == nil {
			held[svc.Spec.ClusterIP] = true
		}
	}
	for _, kv := range allocs {
		if held[kv.Key[len(serviceIPsPrefix):]] {
			continue
		}
		_, at, _ := strings.Cut(string(kv.Value), " ")
		if t, err := time.Parse(time.RFC3339, at); err == nil && o.now().Sub(t) < grace {
			continue // a create may be between its two writes
		}
		if _, err := o.store.Delete(ctx, kv.Key, kv.Revision); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (o *objects) svcIPs() *serviceIPs {
	if o.serviceIPs != nil {
		return o.serviceIPs
	}
	return defaultServiceIPs()
}

// allocateServiceIP gives a new service its ClusterIP (the requested one,
// or a free one) and returns what undoes it. Other objects, headless
// services and dry runs (which only check the request) allocate nothing.
func (o *objects) allocateServiceIP(ctx context.Context, obj registry.Object, dryRun bool) (release func(), err error) {
	nothing := func() {}
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return nothing, nil
	}
	a := o.svcIPs()
	// The value names the service and when it was allocated (repair).
	owner := svc.Namespace + "/" + svc.Name + " " + o.now().UTC().Format(time.RFC3339)
	if svc.Spec.ClusterIP != "" {
		ip, _ := netip.ParseAddr(svc.Spec.ClusterIP) // validated
		if !a.usable(ip) {
			return nil, invalidClusterIP(svc, fmt.Sprintf("provided IP is not in the valid range. The range of valid IPs is %s", a.cidr))
		}
		if dryRun {
			return nothing, nil
		}
		if _, err := o.store.Create(ctx, serviceIPsPrefix+ip.String(), []byte(owner)); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return nil, invalidClusterIP(svc, "provided IP is already allocated")
			}
			return nil, apierrors.NewInternalError(err)
		}
		return func() { o.releaseIP(ip.String()) }, nil
	}
	if dryRun {
		return nothing, nil
	}
	kvs, _, err := o.store.List(ctx, serviceIPsPrefix)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	taken := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		taken[kv.Key[len(serviceIPsPrefix):]] = true
	}
	size := a.size()
	start := rand.Uint64N(size)
	for i := uint64(0); i < size; i++ {
		ip := a.nth((start + i) % size)
		if taken[ip.String()] {
			continue
		}
		_, err := o.store.Create(ctx, serviceIPsPrefix+ip.String(), []byte(owner))
		if errors.Is(err, store.ErrAlreadyExists) {
			continue // taken meanwhile by another create
		}
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		svc.Spec.ClusterIP = ip.String()
		svc.Spec.ClusterIPs = []string{ip.String()}
		return func() { o.releaseIP(ip.String()) }, nil
	}
	return nil, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range %s is full", a.cidr))
}

// releaseServiceIP frees a deleted service's ClusterIP.
func (o *objects) releaseServiceIP(obj registry.Object) {
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return
	}
	o.releaseIP(svc.Spec.ClusterIP)
}

func (o *objects) releaseIP(ip string) {
	// Detached from the request: a client that gave up must not leak it.
	_, _ = o.store.Delete(context.Background(), serviceIPsPrefix+ip, 0)
}

func invalidClusterIP(svc *corev1.Service, msg string) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
		field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, msg),
	})
}

// size is the number of usable addresses: all but the network and
// broadcast addresses.
func (a *serviceIPs) size() uint64 { return 1<<(32-a.cidr.Bits()) - 2 }

// nth is the i-th usable address (0 is the network address + 1).
func (a *serviceIPs) nth(i uint64) netip.Addr {
	b := a.cidr.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (a *serviceIPs) usable(ip netip.Addr) bool {
	return ip.Is4() && a.cidr.Contains(ip) && ip != a.cidr.Addr() && ip != a.nth(a.size())
}
