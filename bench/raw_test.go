package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

// The raw baseline lives in a containerd namespace of its own, so it never
// meets skiff's ("skiff").
const (
	rawNamespace   = "bench-raw"
	rawSnapshotter = "overlayfs" // the runtime plugin's default
	rawRuntime     = "io.containerd.runc.v2"
)

// rawContainerd starts containers straight through the containerd client:
// the floor under any orchestrator on this machine.
type rawContainerd struct {
	b      *testing.B
	client *containerd.Client
	ctx    context.Context
	img    containerd.Image
}

// newRawContainerd imports the image archive into the bench namespace and
// unpacks it, so the measured starts only create and start.
func newRawContainerd(b *testing.B, socket, archive string) *rawContainerd {
	b.Helper()
	c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		b.Fatalf("connect to containerd: %v", err)
	}
	r := &rawContainerd{b: b, client: c, ctx: namespaces.WithNamespace(context.Background(), rawNamespace)}
	b.Cleanup(func() {
		r.removeAll()
		c.Close()
	})
	f, err := os.Open(archive)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	imgs, err := c.Import(r.ctx, f)
	if err != nil || len(imgs) == 0 {
		b.Fatalf("import %s into containerd namespace %q: %v (%d images)", archive, rawNamespace, err, len(imgs))
	}
	r.img = containerd.NewImage(c, imgs[0])
	if err := r.img.Unpack(r.ctx, rawSnapshotter); err != nil {
		b.Fatalf("unpack %s: %v", r.img.Name(), err)
	}
	return r
}

// start creates container id from the image with a new snapshot and starts
// its task: what the runtime plugin does for a pod's container, minus the
// pod around it. It returns how long the create and the task (create and
// start) took. Safe for concurrent use.
func (r *rawContainerd) start(id string) (create, task time.Duration, err error) {
	begin := time.Now()
	ctr, err := r.client.NewContainer(r.ctx, id,
		containerd.WithImage(r.img),
		containerd.WithSnapshotter(rawSnapshotter),
		containerd.WithNewSnapshot(id, r.img),
		containerd.WithRuntime(rawRuntime, nil),
		containerd.WithNewSpec(oci.WithImageConfig(r.img), oci.WithProcessArgs("sleep", "3600")),
	)
	if err != nil {
		return 0, 0, fmt.Errorf("raw container %q: create: %w", id, err)
	}
	created := time.Now()
	t, err := ctr.NewTask(r.ctx, cio.NullIO)
	if err != nil {
		return 0, 0, fmt.Errorf("raw container %q: new task: %w", id, err)
	}
	if err := t.Start(r.ctx); err != nil {
		return 0, 0, fmt.Errorf("raw container %q: start: %w", id, err)
	}
	return created.Sub(begin), time.Since(created), nil
}

// removeAll kills and deletes every container of the bench namespace.
func (r *rawContainerd) removeAll() {
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	ctrs, err := r.client.Containers(ctx)
	if err != nil {
		r.b.Logf("list raw containers: %v", err)
		return
	}
	for _, ctr := range ctrs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				r.b.Logf("delete task of raw container %q: %v", ctr.ID(), err)
			}
		}
		if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			r.b.Logf("delete raw container %q: %v", ctr.ID(), err)
		}
	}
}
