package containerdruntime

import (
	"context"
	"testing"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// TestStatusWithLabelsReadBeforeTheExit: a status query may read the
// labels just before the watcher finalizes the container (records its exit,
// deletes its task) and look for the task just after. That is the exit the
// labels now hold, not a task that disappeared (255).
func TestStatusWithLabelsReadBeforeTheExit(t *testing.T) {
	env := newTestEnv(t)
	r := env.runtime(t, "skiff-status-race")
	env.importImage(t, r)
	ctx := testCtx(t)
	sb, err := r.RunPodSandbox(ctx, runtime.SandboxConfig{PodUID: "uid-status-race", Namespace: "default", Name: "status-race"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.RemovePodSandbox(context.Background(), sb) })
	id := createAndStart(t, r, sb, runtime.ContainerConfig{Name: "quick", Image: testRef, Command: []string{"sh", "-c", "sleep 0.5; exit 3"}, LogPath: t.TempDir() + "/quick.log"})
	nsCtx, conn, err := r.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := loadContainer(nsCtx, conn, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stale.labels[labelExitCode]; ok {
		t.Fatal("the container exited before its labels were read")
	}
	waitFor(t, r, id, exited)
	st, err := r.status(nsCtx, stale)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.StateExited || st.ExitCode != 3 || st.Reason != "Error" {
		t.Errorf("status from labels read before the exit: %+v, want exited with code 3", st)
	}
}
