//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package agent

// Services and cluster DNS on the node.
//
// The agent watches every Service and Endpoints object and hands the
// network plugin the complete set through SetServices whenever it changes
// (debounced), and again after every SetupNode (agent start, network plugin
// restart): SetServices is full state, so a lost call is repaired by the
// next one. A service's endpoints are the ready addresses of its Endpoints
// object, each with the ports of its subset.
//
// Every container gets /etc/resolv.conf from a file under the pod's
// directory: the node's cluster DNS (NodeStatus.DNSIP) with the pod's
// search path, as the kubelet writes it for dnsPolicy ClusterFirst; with
// dnsPolicy Default, or when the plugin serves no DNS, the node's own
// resolv.conf.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/sdk/network"
	"github.com/skiffhq/skiff/sdk/runtime"
)

const (
	// servicesDebounce gathers a burst of changes into one SetServices.
	servicesDebounce = 50 * time.Millisecond
	servicesRetry    = time.Second
	servicesTimeout  = 30 * time.Second
)

// serviceSync feeds the network plugin the cluster's services.
type serviceSync struct {
	a *Agent

	mu        sync.Mutex
	services  map[string]*corev1.Service   // "ns/name"
	endpoints map[string]*corev1.Endpoints // "ns/name"
	listed    map[string]bool              // resource name -> initial list seen
	applied   []network.Service            // last set accepted; nil: none since SetupNode
	ready     bool                         // SetupNode has run
	wake      chan struct{}
	start     sync.Once
}

func (a *Agent) newServiceSync() *serviceSync {
	return &serviceSync{
		a: a, services: map[string]*corev1.Service{}, endpoints: map[string]*corev1.Endpoints{},
		listed: map[string]bool{}, wake: make(chan struct{}, 1),
	}
}

// nodeReady is called after every SetupNode: it starts the watches once and
// sends the whole set again.
func (s *serviceSync) nodeReady(runCtx context.Context) {
	s.mu.Lock()
	s.ready = true
	s.applied = nil
	s.mu.Unlock()
	s.start.Do(func() {
		go s.watch(runCtx, api.Services, func(typ string, data []byte) { s.onService(typ, data) })
		go s.watch(runCtx, api.Endpoints, func(typ string, data []byte) { s.onEndpoints(typ, data) })
		go s.loop(runCtx)
	})
	s.kick()
}

func (s *serviceSync) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// watch lists a resource (replacing what was known of it), then watches it
// from the listing's revision; it lists again when the watch ends.
func (s *serviceSync) watch(ctx context.Context, res api.Resource, apply func(typ string, data []byte)) {
	for ctx.Err() == nil {
		items, rev, err := s.a.cfg.Client.ListRaw(ctx, res, "", client.ListOptions{})
		if err == nil {
			s.mu.Lock()
			if res.Name == api.Services.Name {
				s.services = map[string]*corev1.Service{}
			} else {
				s.endpoints = map[string]*corev1.Endpoints{}
			}
			s.mu.Unlock()
			for _, it := range items {
				apply("ADDED", it)
			}
			s.mu.Lock()
			s.listed[res.Name] = true
			s.mu.Unlock()
			s.kick()
			var events <-chan client.Event
			var errc <-chan error
			events, errc, err = s.a.cfg.Client.Watch(ctx, res, "", client.ListOptions{}, rev)
			if err == nil {
				for ev := range events {
					apply(ev.Type, ev.Object)
					s.kick()
				}
				err = <-errc
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.a.log.Warn("watch ended; re-listing", "resource", res.Name, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *serviceSync) onService(typ string, data []byte) {
	var svc corev1.Service
	if err := json.Unmarshal(data, &svc); err != nil {
		s.a.log.Warn("decode service", "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ == "DELETED" {
		delete(s.services, svc.Namespace+"/"+svc.Name)
	} else {
		s.services[svc.Namespace+"/"+svc.Name] = &svc
	}
}

func (s *serviceSync) onEndpoints(typ string, data []byte) {
	var ep corev1.Endpoints
	if err := json.Unmarshal(data, &ep); err != nil {
		s.a.log.Warn("decode endpoints", "error", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ == "DELETED" {
		delete(s.endpoints, ep.Namespace+"/"+ep.Name)
	} else {
		s.endpoints[ep.Namespace+"/"+ep.Name] = &ep
	}
}

// loop sends the set whenever it differs from the one last accepted.
func (s *serviceSync) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		select { // debounce
		case <-ctx.Done():
			return
		case <-time.After(servicesDebounce):
		}
		s.mu.Lock()
		if !s.ready || !s.listed[api.Services.Name] || !s.listed[api.Endpoints.Name] {
			s.mu.Unlock()
			continue
		}
		want := DesiredServices(s.services, s.endpoints)
		same := s.applied != nil && reflect.DeepEqual(want, s.applied)
		s.mu.Unlock()
		if same {
			continue
		}
		if err := s.apply(ctx, want); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.a.log.Warn("set services", "error", err)
			time.AfterFunc(servicesRetry, s.kick)
			continue
		}
		s.mu.Lock()
		s.applied = want
		s.mu.Unlock()
	}
}

func (s *serviceSync) apply(ctx context.Context, want []network.Service) error {
	net, err := s.a.network()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, servicesTimeout)
	defer cancel()
	if want == nil {
		want = []network.Service{}
	}
	return net.SetServices(ctx, want)
}

// DesiredServices is the full set for SetServices: every ClusterIP service
// (headless ones as "None") with the ready addresses of its Endpoints,
// sorted by namespace and name, endpoints by IP.
func DesiredServices(services map[string]*corev1.Service, endpoints map[string]*corev1.Endpoints) []network.Service {
	keys := make([]string, 0, len(services))
	for k := range services {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []network.Service{}
	for _, k := range keys {
		svc := services[k]
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ClusterIP == "" {
			continue
		}
		ns := network.Service{Namespace: svc.Namespace, Name: svc.Name, ClusterIP: svc.Spec.ClusterIP}
		for _, p := range svc.Spec.Ports {
			proto := string(p.Protocol)
			if proto == "" {
				proto = network.ProtocolTCP
			}
			ns.Ports = append(ns.Ports, network.ServicePort{Name: p.Name, Protocol: proto, Port: int(p.Port)})
		}
		byIP := map[string]map[string]int{}
		if ep := endpoints[k]; ep != nil {
			for _, ss := range ep.Subsets {
				for _, addr := range ss.Addresses {
					ports := byIP[addr.IP]
					if ports == nil {
						ports = map[string]int{}
						byIP[addr.IP] = ports
					}
					for _, p := range ss.Ports {
						ports[p.Name] = int(p.Port)
					}
				}
			}
		}
		ips := make([]string, 0, len(byIP))
		for ip := range byIP {
			ips = append(ips, ip)
		}
		sort.Strings(ips)
		for _, ip := range ips {
			ns.Endpoints = append(ns.Endpoints, network.Endpoint{IP: ip, Ports: byIP[ip]})
		}
		out = append(out, ns)
	}
	return out
}

// hostResolvConf is the node's resolver configuration (dnsPolicy Default).
var hostResolvConf = "/etc/resolv.conf"

// ResolvConf is a pod's resolv.conf: the cluster DNS with the pod's search
// path, or the node's own file when there is no cluster DNS or the pod
// asks for dnsPolicy Default.
func ResolvConf(pod *corev1.Pod, dnsIP, domain string) ([]byte, error) {
	if dnsIP == "" || pod.Spec.DNSPolicy == corev1.DNSDefault {
		data, err := os.ReadFile(hostResolvConf)
		if os.IsNotExist(err) {
			return nil, nil
		}
		return data, err
	}
	if domain == "" {
		domain = network.DefaultClusterDomain
	}
	ns := pod.Namespace
	return fmt.Appendf(nil, "nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n", dnsIP, ns, domain, domain, domain), nil
}

// addResolvConf writes the pod's resolv.conf under its directory and mounts
// it read-only at /etc/resolv.conf, unless the container mounts something
// there itself.
func (a *Agent) addResolvConf(pod *corev1.Pod, c *corev1.Container, mounts []runtime.Mount) ([]runtime.Mount, error) {
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == "/etc/resolv.conf" || filepath.Clean(m.MountPath) == "/etc" {
			return mounts, nil
		}
	}
	data, err := ResolvConf(pod, a.nodeNetwork().DNSIP, "")
	if err != nil {
		return nil, fmt.Errorf("pod %q in %q: resolv.conf: %w", pod.Name, pod.Namespace, err)
	}
	if data == nil {
		return mounts, nil // the node has none either
	}
	dir := filepath.Join(a.cfg.DataDir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "resolv.conf")
	if old, err := os.ReadFile(path); err != nil || string(old) != string(data) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	}
	return append(mounts, runtime.Mount{HostPath: path, ContainerPath: "/etc/resolv.conf", ReadOnly: true}), nil
}
