package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// ensureImage makes the container's image local as its pull policy says,
// with kubelet's reasons and events: ErrImageNeverPull, ErrImagePull, then
// ImagePullBackOff while the back-off runs.
func (w *podWorker) ensureImage(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, c *corev1.Container) error {
	present, err := imagePresent(ctx, rt, c.Image)
	if err != nil {
		return err
	}
	switch {
	case c.ImagePullPolicy == corev1.PullNever && !present:
		msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
		w.waiting[c.Name] = waitingState{reason: "ErrImageNeverPull", message: msg}
		_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "ErrImageNeverPull", "%s", msg)
		return errWaiting
	case present && c.ImagePullPolicy != corev1.PullAlways:
		_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		return nil
	}
	return w.pull(ctx, rt, pod, c)
}

func imagePresent(ctx context.Context, rt runtime.Runtime, ref string) (bool, error) {
	_, err := rt.ImageStatus(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, base.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("image %q: %w", ref, err)
}

func (w *podWorker) pull(ctx context.Context, rt runtime.Runtime, pod *corev1.Pod, c *corev1.Container) error {
	bo := w.pullDelay[c.Image]
	if bo != nil && time.Now().Before(bo.until) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		if w.waiting[c.Name].reason != "ImagePullBackOff" {
			_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "BackOff", "%s", msg)
			_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: ImagePullBackOff")
		}
		w.waiting[c.Name] = waitingState{reason: "ImagePullBackOff", message: msg}
		return errWaiting
	}
	_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	w.waiting[c.Name] = waitingState{reason: "ContainerCreating"}
	start := time.Now()
	img, err := w.a.pullOnce(ctx, rt, c.Image)
	if err != nil {
		if bo == nil {
			bo = &pullBackoff{}
			w.pullDelay[c.Image] = bo
		}
		bo.next(w.a.cfg.BackoffBase, w.a.cfg.BackoffMax)
		bo.until = time.Now().Add(bo.delay)
		w.waiting[c.Name] = waitingState{reason: "ErrImagePull", message: err.Error()}
		_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %s", c.Image, err.Error())
		_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		return errWaiting
	}
	delete(w.pullDelay, c.Image)
	took := time.Since(start).Round(time.Millisecond)
	_ = w.a.recorder.Eventf(ctx, pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s. Image size: %d bytes.", c.Image, took, img.Size)
	return nil
}

// pullBackoff is the back-off of one image's pulls.
type pullBackoff struct {
	backoff
	until time.Time
}

// pullOnce pulls ref, letting only one pull of the same image run at a time
// on this node.
func (a *Agent) pullOnce(ctx context.Context, rt runtime.Runtime, ref string) (runtime.Image, error) {
	a.pullMu.Lock()
	mu, ok := a.pulling[ref]
	if !ok {
		mu = &sync.Mutex{}
		a.pulling[ref] = mu
	}
	a.pullMu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	return rt.PullImage(ctx, ref, runtime.PullOptions{PlainHTTPRegistries: a.cfg.PlainHTTPRegistries})
}
