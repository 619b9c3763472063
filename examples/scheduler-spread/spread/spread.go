// Package spread is an example scheduler plugin for skiff that spreads pods
// across nodes: the opposite of skiff's default bin-packing scheduler. It is
// written only against skiff's public SDK (github.com/skiffhq/skiff/sdk), the
// way a plugin author outside the project would write one.
//
// Filtering is what the scheduler contract (sdk/scheduler) requires of every
// scheduler, in kube-scheduler's order and words; a node is counted under
// the first filter it fails:
//
//  1. node(s) were unschedulable (the node is cordoned);
//  2. node(s) had untolerated taint {node.kubernetes.io/not-ready: };
//  3. node(s) didn't match Pod's node affinity/selector;
//  4. Too many pods, Insufficient cpu, Insufficient memory (all that apply).
//
// Scoring is the plugin's own choice, picked by the "score" setting:
//
//   - "least-allocated" (default): kube-scheduler's LeastAllocated strategy.
//     Per resource, (allocatable - requested after placing the pod) * 100 /
//     allocatable, cpu and memory weighted 1:1; a pod that requests nothing
//     counts as 100m cpu and 200Mi memory, as in kube-scheduler. The node
//     with the most room left wins; ties go to the node with fewer pods,
//     then to the lowest name.
//   - "fewest-pods": the node running the fewest pods wins; ties go to the
//     lowest name. Requests only filter.
package spread

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

// Name and Version are what Info reports.
const (
	Name    = "spread"
	Version = "0.1.0"
)

// Score strategies, the values of the "score" setting.
const (
	LeastAllocated = "least-allocated"
	FewestPods     = "fewest-pods"
)

// SettingScore is the setting that picks the strategy.
const SettingScore = "score"

var settingSpecs = []base.SettingSpec{
	{Name: SettingScore, Description: "how to pick among the nodes that fit: least-allocated or fewest-pods", Default: LeastAllocated},
}

// kube-scheduler's requests assumed, for scoring only, of a pod that
// requests nothing.
const (
	defaultMilliCPU = 100
	defaultMemory   = 200 << 20
)

// Scheduler spreads pods. Make it with New.
type Scheduler struct {
	mu       sync.Mutex
	strategy string
	nodes    map[string]scheduler.Node
	pods     map[podKey]placed
	used     map[string]*usage // by node name, whether or not the node is known
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

type podKey struct{ namespace, name string }

// placed is a pod counted against a node: bound (the core said so) or
// assumed (Schedule placed it and the core has not confirmed yet).
type placed struct {
	node     string
	requests scheduler.Resources
}

// usage is what the pods on one node add up to.
type usage struct {
	requested scheduler.Resources // as requested, for fit
	scored    scheduler.Resources // with the scoring defaults, for scores
	pods      int64
}

// Option tunes New.
type Option func(*Scheduler)

// WithScore sets the strategy used until Configure sets another (the core
// always passes the setting, filled with its default, so this is for tests
// and for embedding the scheduler in a program of your own).
func WithScore(strategy string) Option { return func(s *Scheduler) { s.strategy = strategy } }

// New returns a scheduler with an empty view, scoring least-allocated unless
// an option or Configure says otherwise.
func New(opts ...Option) *Scheduler {
	s := &Scheduler{
		strategy: LeastAllocated,
		nodes:    map[string]scheduler.Node{},
		pods:     map[podKey]placed{},
		used:     map[string]*usage{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Info implements base.Plugin.
func (s *Scheduler) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: Name, Version: Version, APIVersion: scheduler.APIVersion, Settings: settingSpecs}, nil
}

// Configure implements base.Plugin: it checks the settings and picks the
// strategy. A Configure without the "score" setting keeps the current
// strategy. The view is kept: after a restart the core replays it anyway.
func (s *Scheduler) Configure(_ context.Context, cfg base.Config) error {
	if _, err := base.ValidateSettings(settingSpecs, cfg.Settings); err != nil {
		return fmt.Errorf("spread: %w", err)
	}
	strategy, ok := cfg.Settings[SettingScore]
	if !ok {
		return nil
	}
	if strategy != LeastAllocated && strategy != FewestPods {
		return fmt.Errorf("spread: setting %q: %q is not %s or %s: %w", SettingScore, strategy, LeastAllocated, FewestPods, base.ErrInvalid)
	}
	s.mu.Lock()
	s.strategy = strategy
	s.mu.Unlock()
	return nil
}

// Update implements scheduler.Scheduler. A bad change fails the whole batch
// before anything is applied.
func (s *Scheduler) Update(_ context.Context, changes []scheduler.Change) error {
	for i, c := range changes {
		if err := check(c); err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		switch {
		case c.Node != nil && c.Type == scheduler.Upsert:
			n := *c.Node
			n.Labels = maps.Clone(n.Labels)
			s.nodes[n.Name] = n
		case c.Node != nil:
			// The node's pods stay counted until the core deletes them.
			delete(s.nodes, c.Node.Name)
		case c.Type == scheduler.Upsert:
			if c.Pod.NodeName == "" {
				continue // pending: not counted, and an assumption stays
			}
			key := podKey{c.Pod.Namespace, c.Pod.Name}
			s.forget(key)
			s.place(key, placed{node: c.Pod.NodeName, requests: c.Pod.Requests})
		default:
			s.forget(podKey{c.Pod.Namespace, c.Pod.Name})
		}
	}
	return nil
}

func check(c scheduler.Change) error {
	switch {
	case c.Type != scheduler.Upsert && c.Type != scheduler.Delete:
		return fmt.Errorf("unknown change type %d: %w", c.Type, base.ErrInvalid)
	case (c.Node == nil) == (c.Pod == nil):
		return fmt.Errorf("a change sets exactly one of node and pod: %w", base.ErrInvalid)
	case c.Node != nil && c.Node.Name == "":
		return fmt.Errorf("node without a name: %w", base.ErrInvalid)
	case c.Pod != nil && c.Pod.Name == "":
		return fmt.Errorf("pod without a name in namespace %q: %w", c.Pod.Namespace, base.ErrInvalid)
	}
	return nil
}

func (s *Scheduler) place(key podKey, p placed) {
	s.pods[key] = p
	u := s.used[p.node]
	if u == nil {
		u = &usage{}
		s.used[p.node] = u
	}
	u.add(p.requests, 1)
}

func (s *Scheduler) forget(key podKey) {
	p, ok := s.pods[key]
	if !ok {
		return
	}
	delete(s.pods, key)
	u := s.used[p.node]
	u.add(p.requests, -1)
	if u.pods == 0 {
		delete(s.used, p.node)
	}
}

func (u *usage) add(r scheduler.Resources, sign int64) {
	sc := forScoring(r)
	u.requested.MilliCPU += sign * r.MilliCPU
	u.requested.MemoryBytes += sign * r.MemoryBytes
	u.scored.MilliCPU += sign * sc.MilliCPU
	u.scored.MemoryBytes += sign * sc.MemoryBytes
	u.pods += sign
}

func forScoring(r scheduler.Resources) scheduler.Resources {
	if r.MilliCPU == 0 {
		r.MilliCPU = defaultMilliCPU
	}
	if r.MemoryBytes == 0 {
		r.MemoryBytes = defaultMemory
	}
	return r
}

// Schedule implements scheduler.Scheduler. Each placed pod is assumed on
// its node, so later pods of the batch (and of later calls) see it.
func (s *Scheduler) Schedule(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
	for i, p := range pods {
		if p.Name == "" {
			return nil, fmt.Errorf("pod %d of the batch (namespace %q) has no name: %w", i, p.Namespace, scheduler.ErrUnknownPod)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]scheduler.Decision, 0, len(pods))
	for _, p := range pods {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := podKey{p.Namespace, p.Name}
		s.forget(key) // placed afresh, counted once
		d := scheduler.Decision{Namespace: p.Namespace, Name: p.Name}
		d.NodeName, d.Reason = s.pick(names, p)
		if d.NodeName != "" {
			s.place(key, placed{node: d.NodeName, requests: p.Requests})
		}
		out = append(out, d)
	}
	return out, nil
}

// pick returns the best node for p among names (sorted), or why none fits.
func (s *Scheduler) pick(names []string, p scheduler.Pod) (string, string) {
	if len(names) == 0 {
		return "", "no nodes available to schedule pods"
	}
	reasons := map[string]int{}
	best, bestScore, bestPods := "", int64(-1), int64(0)
	for _, name := range names {
		n, u := s.nodes[name], s.usageOf(name)
		if why := filter(n, u, p); len(why) > 0 {
			for _, r := range why {
				reasons[r]++
			}
			continue
		}
		sc := s.score(n, u, p)
		// Names are sorted, so a tie keeps the lower name.
		if sc > bestScore || (sc == bestScore && u.pods < bestPods) {
			best, bestScore, bestPods = name, sc, u.pods
		}
	}
	if best != "" {
		return best, ""
	}
	entries := make([]string, 0, len(reasons))
	for r, n := range reasons {
		entries = append(entries, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(entries)
	return "", fmt.Sprintf("0/%d nodes are available: %s.", len(names), strings.Join(entries, ", "))
}

func (s *Scheduler) usageOf(node string) usage {
	if u := s.used[node]; u != nil {
		return *u
	}
	return usage{}
}

// filter returns the reasons of the first filter p fails on n, or nothing.
func filter(n scheduler.Node, u usage, p scheduler.Pod) []string {
	if n.Unschedulable {
		return []string{"node(s) were unschedulable"}
	}
	if !n.Ready {
		return []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}
	}
	for k, v := range p.NodeSelector {
		if got, ok := n.Labels[k]; !ok || got != v {
			return []string{"node(s) didn't match Pod's node affinity/selector"}
		}
	}
	var why []string
	if u.pods+1 > n.Allocatable.Pods {
		why = append(why, "Too many pods")
	}
	if r := p.Requests.MilliCPU; r > 0 && r > n.Allocatable.MilliCPU-u.requested.MilliCPU {
		why = append(why, "Insufficient cpu")
	}
	if r := p.Requests.MemoryBytes; r > 0 && r > n.Allocatable.MemoryBytes-u.requested.MemoryBytes {
		why = append(why, "Insufficient memory")
	}
	return why
}

// score is higher for a better node (0 to 100).
func (s *Scheduler) score(n scheduler.Node, u usage, p scheduler.Pod) int64 {
	if s.strategy == FewestPods {
		if n.Allocatable.Pods <= 0 {
			return 0
		}
		return (n.Allocatable.Pods - u.pods) * 100 / n.Allocatable.Pods
	}
	return LeastAllocatedScore(n.Allocatable, u.scored, p.Requests)
}

// LeastAllocatedScore is kube-scheduler's LeastAllocated score (0 to 100)
// of a node with allocatable resources alloc, on which pods already count
// used (with the scoring defaults), for a pod requesting req. A resource
// the node has none of is left out of the average.
func LeastAllocatedScore(alloc, used, req scheduler.Resources) int64 {
	sc := forScoring(req)
	var total, weights int64
	for _, r := range []struct{ requested, allocatable int64 }{
		{used.MilliCPU + sc.MilliCPU, alloc.MilliCPU},
		{used.MemoryBytes + sc.MemoryBytes, alloc.MemoryBytes},
	} {
		if r.allocatable <= 0 {
			continue
		}
		free := max(r.allocatable-r.requested, 0)
		total += free * 100 / r.allocatable
		weights++
	}
	if weights == 0 {
		return 0
	}
	return total / weights
}
