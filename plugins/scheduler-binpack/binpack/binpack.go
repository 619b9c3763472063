// Package binpack is a scheduler plugin that packs pods onto as few nodes as
// it can, the way kube-scheduler does with the NodeResourcesFit plugin's
// MostAllocated scoring strategy.
//
// For each pod it filters the nodes in kube-scheduler's filter order, and a
// node that fails is counted under the first filter it fails:
//
//  1. node(s) were unschedulable (spec.unschedulable, i.e. cordoned);
//  2. node(s) had untolerated taint {node.kubernetes.io/not-ready: } (the
//     taint Kubernetes puts on a node that is not Ready; skiff pods carry no
//     tolerations);
//  3. node(s) didn't match Pod's node affinity/selector;
//  4. resources: "Too many pods", "Insufficient cpu", "Insufficient memory",
//     all that apply. A request of zero never fails a resource.
//
// Among the nodes that pass, it picks the one with the highest score, the
// lowest name on a tie. The score is MostAllocated with cpu and memory
// weighted 1:1: per resource, (requested on the node + the pod's request) *
// 100 / allocatable, capped at 100, integer division; then the weighted
// average. For scoring only, a pod that requests no cpu counts as 100m and
// one that requests no memory as 200Mi, as kube-scheduler does (skiff's
// view of a pod is the sum over its containers, so the defaults apply to
// the pod, not to each container). A resource the node has none of is left
// out of the average.
//
// When no node passes, the reason is kube-scheduler's: a histogram of the
// reasons, "<count> <reason>" sorted as strings, in "0/<nodes> nodes are
// available: ....". With no nodes at all it is "no nodes available to
// schedule pods".
package binpack

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

// Version is the plugin's version, reported by Info.
const Version = "0.1.0"

// Kubernetes' requests assumed for scoring a pod that requests nothing.
const (
	DefaultMilliCPURequest    int64 = 100
	DefaultMemoryRequestBytes int64 = 200 << 20
)

// Filter reasons, worded as kube-scheduler's.
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonNotReady      = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonTooManyPods   = "Too many pods"
	reasonCPU           = "Insufficient cpu"
	reasonMemory        = "Insufficient memory"
	reasonNoNodes       = "no nodes available to schedule pods"
)

// Scheduler is the binpack scheduler. Its zero value is not usable; call New.
type Scheduler struct {
	mu    sync.Mutex
	nodes map[string]*scheduler.Node
	// sorted holds the names of nodes in order; nil when it must be rebuilt.
	sorted []string
	pods   map[podKey]placement
	usage  map[string]*usage
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

type podKey struct{ namespace, name string }

// placement is a pod the scheduler counts against a node: bound (the core
// said so) or assumed (this plugin placed it and the core has not yet
// confirmed). Both count the same; a bound upsert replaces an assumption.
type placement struct {
	node     string
	requests scheduler.Resources
}

// usage is what the pods on one node add up to.
type usage struct {
	requested scheduler.Resources // as requested: for fit
	nonZero   scheduler.Resources // with the scoring defaults: for scores
	pods      int64
}

// New returns an empty scheduler.
func New() *Scheduler {
	return &Scheduler{
		nodes: make(map[string]*scheduler.Node),
		pods:  make(map[podKey]placement),
		usage: make(map[string]*usage),
	}
}

// Info implements base.Plugin.
func (s *Scheduler) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: "binpack", Version: Version, APIVersion: scheduler.APIVersion}, nil
}

// Configure implements base.Plugin. The plugin has no settings.
func (s *Scheduler) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(nil, cfg.Settings); err != nil {
		return fmt.Errorf("binpack: %w: %w", err, base.ErrInvalid)
	}
	return nil
}

// Update implements scheduler.Scheduler. The changes are checked before
// any is applied, so a bad batch changes nothing.
func (s *Scheduler) Update(ctx context.Context, changes []scheduler.Change) error {
	for i, c := range changes {
		if err := validateChange(c); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("scheduler update: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		s.apply(c)
	}
	return nil
}

func validateChange(c scheduler.Change) error {
	switch {
	case c.Type != scheduler.Upsert && c.Type != scheduler.Delete:
		return fmt.Errorf("unknown change type %d: %w", c.Type, base.ErrInvalid)
	case (c.Node == nil) == (c.Pod == nil):
		return fmt.Errorf("exactly one of node and pod must be set: %w", base.ErrInvalid)
	case c.Node != nil && c.Node.Name == "":
		return fmt.Errorf("node without a name: %w", base.ErrInvalid)
	case c.Pod != nil && c.Pod.Name == "":
		return fmt.Errorf("pod without a name in namespace %q: %w", c.Pod.Namespace, base.ErrInvalid)
	}
	return nil
}

func (s *Scheduler) apply(c scheduler.Change) {
	switch {
	case c.Node != nil && c.Type == scheduler.Upsert:
		s.upsertNode(c.Node)
	case c.Node != nil:
		s.deleteNode(c.Node.Name)
	case c.Type == scheduler.Upsert:
		s.upsertPod(c.Pod)
	default:
		s.forget(podKey{c.Pod.Namespace, c.Pod.Name})
	}
}

func (s *Scheduler) upsertNode(n *scheduler.Node) {
	if _, ok := s.nodes[n.Name]; !ok {
		s.sorted = nil
	}
	cp := *n
	cp.Labels = maps.Clone(n.Labels)
	s.nodes[n.Name] = &cp
}

// deleteNode forgets a node. Pods bound to it stay counted against its name
// until the core deletes them, so a node that comes back is accounted right.
func (s *Scheduler) deleteNode(name string) {
	if _, ok := s.nodes[name]; ok {
		delete(s.nodes, name)
		s.sorted = nil
	}
}

// upsertPod records a bound pod, replacing whatever was known of it (an
// assumed placement, or older requests). A pod without a node is pending:
// it is not counted, and an assumption made for it is kept until the core
// binds or deletes it.
func (s *Scheduler) upsertPod(p *scheduler.Pod) {
	if p.NodeName == "" {
		return
	}
	key := podKey{p.Namespace, p.Name}
	s.forget(key)
	s.place(key, placement{node: p.NodeName, requests: p.Requests})
}

func (s *Scheduler) place(key podKey, pl placement) {
	s.pods[key] = pl
	u := s.usage[pl.node]
	if u == nil {
		u = &usage{}
		s.usage[pl.node] = u
	}
	u.add(pl.requests, 1)
}

func (s *Scheduler) forget(key podKey) {
	pl, ok := s.pods[key]
	if !ok {
		return
	}
	delete(s.pods, key)
	u := s.usage[pl.node]
	u.add(pl.requests, -1)
	if u.pods == 0 {
		delete(s.usage, pl.node)
	}
}

func (u *usage) add(r scheduler.Resources, sign int64) {
	nz := nonZero(r)
	u.requested.MilliCPU += sign * r.MilliCPU
	u.requested.MemoryBytes += sign * r.MemoryBytes
	u.nonZero.MilliCPU += sign * nz.MilliCPU
	u.nonZero.MemoryBytes += sign * nz.MemoryBytes
	u.pods += sign
}

// nonZero is r with kube-scheduler's scoring defaults for what is not
// requested.
func nonZero(r scheduler.Resources) scheduler.Resources {
	if r.MilliCPU == 0 {
		r.MilliCPU = DefaultMilliCPURequest
	}
	if r.MemoryBytes == 0 {
		r.MemoryBytes = DefaultMemoryRequestBytes
	}
	return r
}

// Schedule implements scheduler.Scheduler. Each placed pod is assumed on
// its node until Update confirms (an upsert with NodeName) or drops it (a
// delete).
func (s *Scheduler) Schedule(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
	for i, p := range pods {
		if p.Name == "" {
			return nil, fmt.Errorf("pod %d of the batch (namespace %q) has no name: %w", i, p.Namespace, scheduler.ErrUnknownPod)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]scheduler.Decision, 0, len(pods))
	for _, p := range pods {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("scheduling pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		out = append(out, s.scheduleOne(p))
	}
	return out, nil
}

func (s *Scheduler) scheduleOne(p scheduler.Pod) scheduler.Decision {
	key := podKey{p.Namespace, p.Name}
	// The pod is pending again: whatever was counted for it goes.
	s.forget(key)
	d := scheduler.Decision{Namespace: p.Namespace, Name: p.Name}
	nodeName, reason := s.pick(p)
	if nodeName == "" {
		d.Reason = reason
		return d
	}
	s.place(key, placement{node: nodeName, requests: p.Requests})
	d.NodeName = nodeName
	return d
}

// pick returns the best node for p, or "" and why none fits.
func (s *Scheduler) pick(p scheduler.Pod) (string, string) {
	names := s.nodeNames()
	if len(names) == 0 {
		return "", reasonNoNodes
	}
	histogram := make(map[string]int)
	best, bestScore := "", int64(-1)
	for _, name := range names {
		n, u := s.nodes[name], s.usageOf(name)
		if reasons := filter(n, u, p); len(reasons) > 0 {
			for _, r := range reasons {
				histogram[r]++
			}
			continue
		}
		// Names are sorted: a strictly higher score is needed to win, so
		// ties go to the lowest name.
		if sc := Score(n.Allocatable, u.nonZero, p.Requests); sc > bestScore {
			best, bestScore = name, sc
		}
	}
	if best == "" {
		return "", fitError(len(names), histogram)
	}
	return best, ""
}

func (s *Scheduler) nodeNames() []string {
	if s.sorted == nil {
		s.sorted = make([]string, 0, len(s.nodes))
		for name := range s.nodes {
			s.sorted = append(s.sorted, name)
		}
		sort.Strings(s.sorted)
	}
	return s.sorted
}

func (s *Scheduler) usageOf(node string) usage {
	if u := s.usage[node]; u != nil {
		return *u
	}
	return usage{}
}

// filter returns why p cannot go to n: the reasons of the first filter that
// fails, in kube-scheduler's order, or nothing when it fits.
func filter(n *scheduler.Node, u usage, p scheduler.Pod) []string {
	switch {
	case n.Unschedulable:
		return []string{reasonUnschedulable}
	case !n.Ready:
		return []string{reasonNotReady}
	case !matchesSelector(n.Labels, p.NodeSelector):
		return []string{reasonSelector}
	}
	return insufficient(n.Allocatable, u, p.Requests)
}

func matchesSelector(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// insufficient is kube-scheduler's resource fit: pod count first, then
// every resource the pod requests that the node has not enough left of.
func insufficient(alloc scheduler.Resources, u usage, req scheduler.Resources) []string {
	var reasons []string
	if u.pods+1 > alloc.Pods {
		reasons = append(reasons, reasonTooManyPods)
	}
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-u.requested.MilliCPU {
		reasons = append(reasons, reasonCPU)
	}
	if req.MemoryBytes > 0 && req.MemoryBytes > alloc.MemoryBytes-u.requested.MemoryBytes {
		reasons = append(reasons, reasonMemory)
	}
	return reasons
}

func fitError(nodes int, histogram map[string]int) string {
	entries := make([]string, 0, len(histogram))
	for reason, count := range histogram {
		entries = append(entries, fmt.Sprintf("%d %s", count, reason))
	}
	sort.Strings(entries)
	return fmt.Sprintf("0/%d nodes are available: %s.", nodes, strings.Join(entries, ", "))
}

// MaxNodeScore is the best score a node can get.
const MaxNodeScore = 100

// Score is the MostAllocated score (0 to MaxNodeScore) of a node with
// allocatable resources alloc, on which pods already count nonZeroUsed
// (with the scoring defaults applied per pod), for a pod requesting req.
func Score(alloc, nonZeroUsed, req scheduler.Resources) int64 {
	nz := nonZero(req)
	resources := []struct{ requested, allocatable, weight int64 }{
		{nonZeroUsed.MilliCPU + nz.MilliCPU, alloc.MilliCPU, 1},
		{nonZeroUsed.MemoryBytes + nz.MemoryBytes, alloc.MemoryBytes, 1},
	}
	var score, weights int64
	for _, r := range resources {
		if r.allocatable == 0 {
			continue
		}
		score += mostRequested(r.requested, r.allocatable) * r.weight
		weights += r.weight
	}
	if weights == 0 {
		return 0
	}
	return score / weights
}

// mostRequested scores one resource: the share of it in use once the pod
// is placed, 0 to MaxNodeScore. requested can exceed allocatable only
// because of the scoring defaults; it then counts as full.
func mostRequested(requested, allocatable int64) int64 {
	if requested > allocatable {
		requested = allocatable
	}
	return requested * MaxNodeScore / allocatable
}
