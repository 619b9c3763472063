// Package events records Kubernetes Events about objects, aggregating
// repeats the way kubelet does: the same reason and message for the same
// object bumps count and lastTimestamp of one Event instead of making many.
package events

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
)

// Recorder writes events through the API.
type Recorder struct {
	client    *client.Client
	component string
	host      string

	mu   sync.Mutex
	seen map[string]*corev1.Event // aggregation key -> last stored event
}

// NewRecorder makes a recorder reporting as component (e.g. "kubelet",
// "default-scheduler") on host.
func NewRecorder(c *client.Client, component, host string) *Recorder {
	return &Recorder{client: c, component: component, host: host, seen: map[string]*corev1.Event{}}
}

// Eventf records an event about a pod. Failures to record are returned but
// callers usually only log them: an event is never worth failing a sync.
func (r *Recorder) Eventf(ctx context.Context, pod *corev1.Pod, eventType, reason, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	ref := corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"}
	key := string(pod.UID) + "\x00" + eventType + "\x00" + reason + "\x00" + msg
	now := metav1.NewTime(time.Now())

	r.mu.Lock()
	prev := r.seen[key]
	r.mu.Unlock()
	if prev != nil {
		ev := prev.DeepCopy()
		ev.Count++
		ev.LastTimestamp = now
		if err := r.client.Update(ctx, api.Events, ev.Namespace, ev, ""); err == nil {
			r.remember(key, ev)
			return nil
		}
		// The stored event is gone (expired) or changed: record anew.
	}
	ev := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          metav1.ObjectMeta{Name: pod.Name + "." + eventSuffix(), Namespace: pod.Namespace},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             msg,
		Source:              corev1.EventSource{Component: r.component, Host: r.host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		Type:                eventType,
		ReportingController: r.component,
		ReportingInstance:   r.host,
	}
	if err := r.client.Create(ctx, api.Events, ev.Namespace, ev); err != nil {
		return fmt.Errorf("record event %s for pod %q in %q: %w", reason, pod.Name, pod.Namespace, err)
	}
	r.remember(key, ev)
	return nil
}

func (r *Recorder) remember(key string, ev *corev1.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) > 4096 {
		r.seen = map[string]*corev1.Event{}
	}
	r.seen[key] = ev
}

// eventSuffix names events as kubelet does: the creation time in hex
// nanoseconds, so events of one object list in the order they happened.
func eventSuffix() string {
	return strconv.FormatInt(time.Now().UnixNano(), 16)
}
