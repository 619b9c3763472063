// Package fakeserver is an in-memory skiff API server for skiffctl's tests.
// It keeps objects as JSON maps, stamps them the way the real server does
// (uid, creationTimestamp, resourceVersion), serves watches from an event
// log, and answers the streaming and node calls from canned data.
package fakeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

// Server implements apipb.SkiffServer in memory.
type Server struct {
	apipb.UnimplementedSkiffServer

	// Now stamps creation and deletion times.
	Now func() time.Time
	// GracefulPods makes pod deletion (without Force) only mark the pod,
	// as the real server does until the node stops its containers;
	// RemoveAfter, when set, then removes it after that long.
	GracefulPods bool
	RemoveAfter  time.Duration

	// Canned answers.
	LogText     map[string]string // "ns/pod/container" -> log
	Images      *apipb.ImagesResponse
	PluginList  []*apipb.PluginStatus
	VersionInfo *apipb.VersionResponse
	// UpdateError, when set, fails every Update with it.
	UpdateError error
	// BeforeUpdate, when set, runs at the start of every Update (to race
	// a concurrent writer against it).
	BeforeUpdate func()

	mu       sync.Mutex
	rev      int64
	objects  map[string]map[string]map[string]any // resource -> ns/name -> object
	log      []event
	changed  chan struct{} // closed and replaced on every change
	requests []any

	watchers   atomic.Int32
	eventsSent atomic.Int32

	// What LoadImages received.
	LoadedNode string
	LoadedData []byte
}

type event struct {
	rev      int64
	typ      string
	resource string
	obj      map[string]any
}

// New returns an empty server.
func New() *Server {
	return &Server{
		Now:     time.Now,
		objects: map[string]map[string]map[string]any{},
		changed: make(chan struct{}),
		LogText: map[string]string{},
	}
}

// Start serves s over an in-process connection and returns a client
// connection to it; both stop when the test ends via the returned stop.
func (s *Server) Start() (*grpc.ClientConn, func(), error) {
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer()
	apipb.RegisterSkiffServer(gs, s)
	go gs.Serve(lis) //nolint:errcheck // ends with Stop
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		return nil, nil, err
	}
	return conn, func() { conn.Close(); gs.Stop() }, nil
}

// Requests returns the requests received so far (Create/Update/Delete/Logs
// messages), oldest first.
func (s *Server) Requests() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]any(nil), s.requests...)
}

// Put stores an object as is (after stamping what is missing), for test
// setup. The JSON must carry metadata.name (and namespace when namespaced).
func (s *Server) Put(resource string, obj any) {
	data, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	md := meta(m)
	if md["uid"] == nil {
		md["uid"] = "uid-" + str(md["name"])
	}
	s.store(resource, m, "ADDED")
}

// Object returns the stored object, or nil.
func (s *Server) Object(resource, ns, name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[resource][key(ns, name)]
}

// Remove deletes an object at once, as the node agent finally does.
func (s *Server) Remove(resource, ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if obj, ok := s.objects[resource][key(ns, name)]; ok {
		delete(s.objects[resource], key(ns, name))
		s.record(resource, obj, "DELETED")
	}
}

// Modify changes a stored object (as an agent's status update would) and
// emits a MODIFIED event.
func (s *Server) Modify(resource, ns, name string, change func(obj map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj := s.objects[resource][key(ns, name)]
	change(obj)
	s.store(resource, obj, "MODIFIED")
}

func key(ns, name string) string { return ns + "/" + name }

func meta(obj map[string]any) map[string]any {
	md, ok := obj["metadata"].(map[string]any)
	if !ok {
		md = map[string]any{}
		obj["metadata"] = md
	}
	return md
}

func str(v any) string { s, _ := v.(string); return s }

// store saves obj with a new resourceVersion and records the event.
func (s *Server) store(resource string, obj map[string]any, typ string) {
	s.rev++
	md := meta(obj)
	md["resourceVersion"] = strconv.FormatInt(s.rev, 10)
	if md["creationTimestamp"] == nil {
		md["creationTimestamp"] = s.Now().UTC().Format(time.RFC3339)
	}
	if s.objects[resource] == nil {
		s.objects[resource] = map[string]map[string]any{}
	}
	s.objects[resource][key(str(md["namespace"]), str(md["name"]))] = obj
	s.log = append(s.log, event{rev: s.rev, typ: typ, resource: resource, obj: copyObj(obj)})
	s.notify()
}

func (s *Server) record(resource string, obj map[string]any, typ string) {
	s.rev++
	s.log = append(s.log, event{rev: s.rev, typ: typ, resource: resource, obj: copyObj(obj)})
	s.notify()
}

func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func copyObj(obj map[string]any) map[string]any {
	data, _ := json.Marshal(obj)
	var out map[string]any
	_ = json.Unmarshal(data, &out)
	return out
}

func marshal(obj map[string]any) *apipb.Object {
	data, _ := json.Marshal(obj)
	return &apipb.Object{Json: data}
}

func resourceOf(name string) (api.Resource, error) {
	r, err := api.Lookup(name)
	if err != nil {
		return r, api.ToGRPC(apierrors.NewNotFound(schema.GroupResource{Resource: name}, ""))
	}
	return r, nil
}

func notFound(resource, name string) error {
	gr := schema.GroupResource{Resource: resource}
	if r, err := api.Lookup(resource); err == nil {
		gr = r.GroupResource()
	}
	return api.ToGRPC(apierrors.NewNotFound(gr, name))
}

// Create implements apipb.SkiffServer.
func (s *Server) Create(_ context.Context, req *apipb.CreateRequest) (*apipb.Object, error) {
	res, err := resourceOf(req.Resource)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Json, &obj); err != nil {
		return nil, api.ToGRPC(apierrors.NewBadRequest(err.Error()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	md := meta(obj)
	name := str(md["name"])
	if res.Namespaced {
		md["namespace"] = req.Namespace
	}
	if _, exists := s.objects[res.Name][key(req.Namespace, name)]; exists {
		return nil, api.ToGRPC(apierrors.NewAlreadyExists(schema.GroupResource{Resource: res.Name}, name))
	}
	md["uid"] = "uid-" + name
	if req.DryRun {
		md["creationTimestamp"] = s.Now().UTC().Format(time.RFC3339)
		return marshal(obj), nil
	}
	s.store(res.Name, obj, "ADDED")
	return marshal(obj), nil
}

// Get implements apipb.SkiffServer.
func (s *Server) Get(_ context.Context, req *apipb.GetRequest) (*apipb.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[req.Resource][key(req.Namespace, req.Name)]
	if !ok {
		return nil, notFound(req.Resource, req.Name)
	}
	return marshal(obj), nil
}

// List implements apipb.SkiffServer: label selectors and the
// metadata.name / metadata.namespace / spec.nodeName field selectors.
func (s *Server) List(_ context.Context, req *apipb.ListRequest) (*apipb.ListResponse, error) {
	sel, err := labels.Parse(req.LabelSelector)
	if err != nil {
		return nil, api.ToGRPC(apierrors.NewBadRequest(err.Error()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.objects[req.Resource]))
	for k := range s.objects[req.Resource] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	resp := &apipb.ListResponse{ResourceVersion: s.rev}
	for _, k := range keys {
		obj := s.objects[req.Resource][k]
		if matches(obj, req.Namespace, sel, req.FieldSelector) {
			resp.Items = append(resp.Items, marshal(obj))
		}
	}
	return resp, nil
}

func matches(obj map[string]any, ns string, sel labels.Selector, fieldSelector string) bool {
	md := meta(obj)
	if ns != "" && str(md["namespace"]) != ns {
		return false
	}
	lbls := labels.Set{}
	if m, ok := md["labels"].(map[string]any); ok {
		for k, v := range m {
			lbls[k] = str(v)
		}
	}
	if !sel.Matches(lbls) {
		return false
	}
	for _, term := range strings.Split(fieldSelector, ",") {
		field, want, ok := strings.Cut(term, "=")
		if !ok {
			continue
		}
		if fieldValue(obj, field) != want {
			return false
		}
	}
	return true
}

func fieldValue(obj map[string]any, field string) string {
	switch field {
	case "metadata.name":
		return str(meta(obj)["name"])
	case "metadata.namespace":
		return str(meta(obj)["namespace"])
	case "spec.nodeName":
		spec, _ := obj["spec"].(map[string]any)
		return str(spec["nodeName"])
	}
	return ""
}

// Update implements apipb.SkiffServer with compare-and-swap on
// resourceVersion.
func (s *Server) Update(_ context.Context, req *apipb.UpdateRequest) (*apipb.Object, error) {
	if s.BeforeUpdate != nil {
		s.BeforeUpdate()
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Json, &obj); err != nil {
		return nil, api.ToGRPC(apierrors.NewBadRequest(err.Error()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if s.UpdateError != nil {
		return nil, api.ToGRPC(s.UpdateError)
	}
	md := meta(obj)
	name := str(md["name"])
	cur, ok := s.objects[req.Resource][key(req.Namespace, name)]
	if !ok {
		return nil, notFound(req.Resource, name)
	}
	if str(meta(cur)["resourceVersion"]) != str(md["resourceVersion"]) {
		return nil, api.ToGRPC(apierrors.NewConflict(schema.GroupResource{Resource: req.Resource}, name,
			fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again")))
	}
	s.store(req.Resource, obj, "MODIFIED")
	return marshal(obj), nil
}

// Delete implements apipb.SkiffServer; see GracefulPods.
func (s *Server) Delete(_ context.Context, req *apipb.DeleteRequest) (*apipb.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	k := key(req.Namespace, req.Name)
	obj, ok := s.objects[req.Resource][k]
	if !ok {
		return nil, notFound(req.Resource, req.Name)
	}
	if req.Resource == api.Pods.Name && s.GracefulPods && !req.Force {
		md := meta(obj)
		md["deletionTimestamp"] = s.Now().UTC().Format(time.RFC3339)
		md["deletionGracePeriodSeconds"] = 30
		s.store(req.Resource, obj, "MODIFIED")
		if s.RemoveAfter > 0 {
			time.AfterFunc(s.RemoveAfter, func() { s.Remove(req.Resource, req.Namespace, req.Name) })
		}
		return marshal(obj), nil
	}
	delete(s.objects[req.Resource], k)
	s.record(req.Resource, obj, "DELETED")
	return marshal(obj), nil
}

// Watch implements apipb.SkiffServer from the event log.
func (s *Server) Watch(req *apipb.WatchRequest, stream apipb.Skiff_WatchServer) error {
	sel, err := labels.Parse(req.LabelSelector)
	if err != nil {
		return api.ToGRPC(apierrors.NewBadRequest(err.Error()))
	}
	s.watchers.Add(1)
	defer s.watchers.Add(-1)
	next := req.ResourceVersion
	if next == 0 {
		s.mu.Lock()
		var initial []map[string]any
		for _, obj := range s.objects[req.Resource] {
			if matches(obj, req.Namespace, sel, req.FieldSelector) {
				initial = append(initial, copyObj(obj))
			}
		}
		next = s.rev
		s.mu.Unlock()
		for _, obj := range initial {
			if err := stream.Send(&apipb.WatchEvent{Type: "ADDED", Object: marshal(obj)}); err != nil {
				return err
			}
		}
	}
	for {
		s.mu.Lock()
		var batch []event
		for _, e := range s.log {
			if e.rev > next && e.resource == req.Resource && matches(e.obj, req.Namespace, sel, req.FieldSelector) {
				batch = append(batch, e)
			}
		}
		next = s.rev
		changed := s.changed
		s.mu.Unlock()
		for _, e := range batch {
			if err := stream.Send(&apipb.WatchEvent{Type: e.typ, Object: marshal(e.obj)}); err != nil {
				return err
			}
			s.eventsSent.Add(1)
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// Watchers is the number of open watches.
func (s *Server) Watchers() int { return int(s.watchers.Load()) }

// EventsSent counts the change events watches have sent (not the initial
// ADDED ones of a watch from revision 0).
func (s *Server) EventsSent() int { return int(s.eventsSent.Load()) }

// Logs implements apipb.SkiffServer from LogText.
func (s *Server) Logs(req *apipb.LogsRequest, stream apipb.Skiff_LogsServer) error {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	text, ok := s.LogText[req.Namespace+"/"+req.Pod+"/"+req.Container]
	s.mu.Unlock()
	if !ok {
		return api.ToGRPC(apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", req.Container, req.Pod)))
	}
	return stream.Send(&apipb.Chunk{Data: []byte(text)})
}

// LoadImages implements apipb.SkiffServer: it keeps what it received and
// answers Images.
func (s *Server) LoadImages(stream apipb.Skiff_LoadImagesServer) error {
	first := true
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		if first {
			s.LoadedNode = chunk.Node
			first = false
		}
		s.LoadedData = append(s.LoadedData, chunk.Data...)
		s.mu.Unlock()
	}
	resp := s.Images
	if resp == nil {
		resp = &apipb.ImagesResponse{}
	}
	return stream.SendAndClose(resp)
}

// ListImages implements apipb.SkiffServer.
func (s *Server) ListImages(context.Context, *apipb.ListImagesRequest) (*apipb.ImagesResponse, error) {
	if s.Images == nil {
		return &apipb.ImagesResponse{}, nil
	}
	return s.Images, nil
}

// Plugins implements apipb.SkiffServer.
func (s *Server) Plugins(context.Context, *apipb.PluginsRequest) (*apipb.PluginsResponse, error) {
	return &apipb.PluginsResponse{Plugins: s.PluginList}, nil
}

// Version implements apipb.SkiffServer.
func (s *Server) Version(context.Context, *apipb.VersionRequest) (*apipb.VersionResponse, error) {
	if s.VersionInfo == nil {
		return &apipb.VersionResponse{Version: "v0.0.0-fake"}, nil
	}
	return s.VersionInfo, nil
}
