package apiserver_test

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/apiserver"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/store"
)

func newService(name, clusterIP string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: clusterIP,
			Selector:  map[string]string{"app": name},
			Ports:     []corev1.ServicePort{{Port: 80}},
		},
	}
}

func TestServiceClusterIPs(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	cidr := netip.MustParsePrefix("10.96.0.0/12")

	svc := newService("web", "")
	if err := e.admin.Create(ctx, api.Services, "default", svc); err != nil {
		t.Fatal(err)
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !cidr.Contains(ip) || len(svc.Spec.ClusterIPs) != 1 || svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
		t.Fatalf("clusterIP %q clusterIPs %v, want one address in %s", svc.Spec.ClusterIP, svc.Spec.ClusterIPs, cidr)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.Ports[0].TargetPort.IntVal != 80 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("defaults not set: %+v", svc.Spec)
	}

	// A requested IP that is taken is refused with Kubernetes' message.
	err = e.admin.Create(ctx, api.Services, "default", newService("other", svc.Spec.ClusterIP))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), fmt.Sprintf(`spec.clusterIP: Invalid value: %q: provided IP is already allocated`, svc.Spec.ClusterIP)) {
		t.Fatalf("create with a taken IP: %v", err)
	}
	err = e.admin.Create(ctx, api.Services, "default", newService("outside", "10.200.0.1"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided IP is not in the valid range") {
		t.Fatalf("create outside the range: %v", err)
	}
	// The clusterIP is immutable; an update without it keeps it.
	upd := svc.DeepCopy()
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs = "10.96.0.77", nil
	if err := e.admin.Update(ctx, api.Services, "default", upd, ""); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "field is immutable") {
		t.Fatalf("update of clusterIP: %v", err)
	}
	upd = svc.DeepCopy()
	upd.Spec.ClusterIP, upd.Spec.ClusterIPs, upd.ResourceVersion = "", nil, ""
	if err := e.admin.Update(ctx, api.Services, "default", upd, ""); err != nil || upd.Spec.ClusterIP != svc.Spec.ClusterIP {
		t.Fatalf("update without clusterIP: %v, clusterIP %q", err, upd.Spec.ClusterIP)
	}

	// Deleting releases it: the same IP may be requested again.
	if _, err := e.admin.Delete(ctx, api.Services, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := newService("again", svc.Spec.ClusterIP)
	if err := e.admin.Create(ctx, api.Services, "default", again); err != nil {
		t.Fatalf("requesting a released IP: %v", err)
	}
	// A failed create (name taken) leaves no allocation behind.
	if err := e.admin.Create(ctx, api.Services, "default", newService("again", "")); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}
	kvs, _, err := store.New(e.etcd.Client).List(ctx, "/skiff/ranges/serviceips/")
	if err != nil || len(kvs) != 1 || !strings.HasSuffix(kvs[0].Key, "/"+svc.Spec.ClusterIP) {
		t.Fatalf("allocations after create, delete, failed create: %v (%v)", kvs, err)
	}

	// Headless services get no IP.
	headless := newService("db", corev1.ClusterIPNone)
	if err := e.admin.Create(ctx, api.Services, "default", headless); err != nil || headless.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v %q", err, headless.Spec.ClusterIP)
	}
}

func TestServiceClusterIPsAreUniqueUnderConcurrentCreates(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	ips := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := newService(fmt.Sprintf("s%d", i), "10.96.0.10")
			if i%2 == 0 {
				svc.Spec.ClusterIP = "" // half allocate, half race for one IP
			}
			errs[i] = e.admin.Create(ctx, api.Services, "default", svc)
			ips[i] = svc.Spec.ClusterIP
		}()
	}
	wg.Wait()
	seen := map[string]string{}
	winners := 0
	for i := range n {
		if errs[i] != nil {
			if i%2 == 0 || !strings.Contains(errs[i].Error(), "already allocated") {
				t.Errorf("s%d: %v", i, errs[i])
			}
			continue
		}
		if i%2 == 1 {
			winners++
		}
		if other, dup := seen[ips[i]]; dup {
			t.Errorf("s%d and %s both got %s", i, other, ips[i])
		}
		seen[ips[i]] = fmt.Sprintf("s%d", i)
	}
	if winners != 1 {
		t.Errorf("%d services got the requested 10.96.0.10, want 1", winners)
	}
}

// A server start takes back allocations that no service holds (a server
// died between the two writes of a create), but not fresh ones.
func TestServiceIPsRepairAtStart(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	held := newService("held", "")
	if err := e.admin.Create(ctx, api.Services, "default", held); err != nil {
		t.Fatal(err)
	}
	st := store.New(e.etcd.Client)
	if _, err := st.Create(ctx, "/skiff/ranges/serviceips/10.96.0.50", []byte("default/ghost 2020-01-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	fresh := "default/coming " + time.Now().UTC().Format(time.RFC3339)
	if _, err := st.Create(ctx, "/skiff/ranges/serviceips/10.96.0.51", []byte(fresh)); err != nil {
		t.Fatal(err)
	}
	serving, err := e.ca.IssueServer("skiff-apiserver", []string{"localhost"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Config{Store: st, CA: e.ca, ServingCert: serving, AgentClientCert: serving})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetServiceCIDR("10.96.0.0/12"); err != nil {
		t.Fatal(err)
	}
	kvs, _, err := st.List(ctx, "/skiff/ranges/serviceips/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range kvs {
		got = append(got, strings.TrimPrefix(kv.Key, "/skiff/ranges/serviceips/"))
	}
	sort.Strings(got)
	want := []string{held.Spec.ClusterIP, "10.96.0.51"}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("allocations after repair: %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "fd00::/108", "10.0.0.0/31"} {
		if err := srv.SetServiceCIDR(bad); err == nil {
			t.Errorf("SetServiceCIDR(%q) accepted", bad)
		}
	}
}
