package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl/v2"
)

// What skiff puts on containerd objects. The bench reads them from outside
// (like a user with ctr would) rather than importing core/agent.
const (
	skiffNamespace = "skiff"              // the runtime plugin's default namespace
	labelPodName   = "skiff.dev/pod-name" // agent.LabelPodName
	labelKind      = "skiff.runtime.kind" // "sandbox" or "container"
)

// containerdTrace records, from containerd's event stream, when each
// container of skiff's namespace was created and when its task was created
// and started. With the pod watch it splits a pod's start into stages
// without touching skiff.
type containerdTrace struct {
	client *containerd.Client
	mu     sync.Mutex
	seen   map[string]map[string]time.Time // container ID → topic → time
}

func traceContainerd(b *testing.B, socket string) *containerdTrace {
	b.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		b.Fatalf("connect to containerd: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		c.Close()
	})
	t := &containerdTrace{client: c, seen: map[string]map[string]time.Time{}}
	envs, errs := c.Subscribe(ctx, fmt.Sprintf("namespace==%s", skiffNamespace))
	go func() {
		for {
			select {
			case env, ok := <-envs:
				if !ok {
					return
				}
				id := eventContainerID(env.Event)
				if id == "" {
					continue
				}
				t.mu.Lock()
				if t.seen[id] == nil {
					t.seen[id] = map[string]time.Time{}
				}
				if _, dup := t.seen[id][env.Topic]; !dup {
					t.seen[id][env.Topic] = env.Timestamp
				}
				t.mu.Unlock()
			case <-errs:
				return
			}
		}
	}()
	return t
}

// stages is when one pod passed each step, as containerd and the watch saw
// them.
type stages struct {
	bound, sandbox, created, taskStarted, running time.Time
}

// podStages maps each running bench pod to its stages: its containers are
// found by the pod-name label the agent puts on them.
func (t *containerdTrace) podStages(w *podWatcher) (map[string]stages, error) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), skiffNamespace), 30*time.Second)
	defer cancel()
	ctrs, err := t.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list skiff's containers: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]stages{}
	for _, ctr := range ctrs {
		labels, err := ctr.Labels(ctx)
		if err != nil {
			continue
		}
		name := labels[labelPodName]
		pw := w.waits[name]
		if pw == nil || pw.at.IsZero() || !strings.HasPrefix(name, "bench-") {
			continue
		}
		st := out[name]
		st.bound, st.running = pw.bound, pw.at
		ev := t.seen[ctr.ID()]
		if labels[labelKind] == "sandbox" {
			st.sandbox = ev["/containers/create"]
		} else {
			st.created, st.taskStarted = ev["/containers/create"], ev["/tasks/start"]
		}
		out[name] = st
	}
	return out, nil
}

// stageSplit is the p50 and p99 of each stage over the pods.
func stageSplit(all map[string]stages) string {
	var toSandbox, toCreated, toStarted, toRunning []time.Duration
	for _, s := range all {
		if s.bound.IsZero() || s.sandbox.IsZero() || s.created.IsZero() || s.taskStarted.IsZero() {
			continue
		}
		toSandbox = append(toSandbox, s.sandbox.Sub(s.bound))
		toCreated = append(toCreated, s.created.Sub(s.sandbox))
		toStarted = append(toStarted, s.taskStarted.Sub(s.created))
		toRunning = append(toRunning, s.running.Sub(s.taskStarted))
	}
	if len(toSandbox) == 0 {
		return "no pod had every stage in containerd's events"
	}
	f := func(d []time.Duration) string {
		return ms(percentile(d, 50)) + "/" + ms(percentile(d, 99))
	}
	return fmt.Sprintf("bound -> sandbox recorded %s (pod network, sandbox), -> container created %s, -> task started %s (task create+start), -> Running seen %s (status, API, watch) [p50/p99 over %d pods]",
		f(toSandbox), f(toCreated), f(toStarted), f(toRunning), len(toSandbox))
}

// eventContainerID is the container a create or task event is about, or ""
// for other events.
func eventContainerID(a typeurl.Any) string {
	v, err := typeurl.UnmarshalAny(a)
	if err != nil {
		return ""
	}
	switch e := v.(type) {
	case *apievents.ContainerCreate:
		return e.ID
	case *apievents.TaskCreate:
		return e.ContainerID
	case *apievents.TaskStart:
		return e.ContainerID
	}
	return ""
}
