package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
)

// runtimeNamespace is the containerd namespace the runtime plugin uses.
const runtimeNamespace = "skiff"

// containerPIDs returns the PID of every running task in the runtime's
// namespace, by container ID, read straight from containerd.
func containerPIDs(t *testing.T, socket string) map[string]uint32 {
	t.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), runtimeNamespace), 30*time.Second)
	defer cancel()
	ctrs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	out := map[string]uint32{}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		st, err := task.Status(ctx)
		if err == nil && st.Status == containerd.Running {
			out[ctr.ID()] = task.Pid()
		}
	}
	return out
}

// countContainers counts containers with a task or an image (not sandboxes,
// which have neither) in the runtime's namespace.
func countContainers(t *testing.T, socket string) int {
	t.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd: %v", err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), runtimeNamespace)
	ctrs, err := c.Containers(ctx)
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return len(ctrs)
}
