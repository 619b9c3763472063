package prober

import (
	"context"
	"fmt"
	"time"

	"github.com/skiffhq/skiff/sdk/probes"
)

// worker runs one probe of one container.
type worker struct {
	p         *Prober
	e         *entry
	target    target
	anchor    time.Time // InitialDelay counts from here
	kind      probes.Kind
	probe     probes.Probe
	started   *gate
	threshold threshold
}

func newWorker(p *Prober, e *entry, c probes.Container, s spec, started *gate) *worker {
	anchor := c.StartedAt
	if anchor.IsZero() {
		anchor = time.Now()
	}
	return &worker{
		p:         p,
		e:         e,
		target:    target{containerID: c.ContainerID, podIP: c.PodIP},
		anchor:    anchor,
		kind:      s.kind,
		probe:     s.probe,
		started:   started,
		threshold: newThreshold(s.kind, s.probe),
	}
}

func (w *worker) run(ctx context.Context) {
	if w.kind != probes.Startup && !w.started.wait(ctx) {
		return
	}
	if !sleepUntil(ctx, w.anchor.Add(w.probe.InitialDelay)) {
		return
	}
	ticker := time.NewTicker(w.probe.Period)
	defer ticker.Stop()
	for w.probeOnce(ctx) {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return
		}
	}
}

// probeOnce runs the probe and reports a change; it returns false when the
// worker is done (removed, or a startup probe that succeeded).
func (w *worker) probeOnce(ctx context.Context) bool {
	o := w.p.checker.check(ctx, w.target, w.probe, w.p.currentHost())
	if ctx.Err() != nil {
		return false
	}
	if o.verdict == unknown {
		return true
	}
	if changed := w.threshold.observe(o); changed {
		r := probes.Result{
			ContainerID: w.target.containerID,
			Probe:       w.kind,
			Success:     w.threshold.state,
			Message:     w.threshold.message,
			At:          time.Now(),
		}
		if !w.p.publish(w.e, r) {
			return false
		}
	}
	if w.kind == probes.Startup && w.threshold.state {
		w.started.open()
		return false
	}
	return true
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// threshold turns a probe's outcomes into its state.
type threshold struct {
	successes, failures int // thresholds
	state               bool
	message             string
	reported            bool
	last                verdict
	run                 int // outcomes equal to last in a row
}

func newThreshold(kind probes.Kind, p probes.Probe) threshold {
	return threshold{
		successes: p.SuccessThreshold,
		failures:  p.FailureThreshold,
		// The kubelet's initial states.
		state: kind == probes.Liveness,
	}
}

// observe records an outcome (success or failure) and reports whether the
// state must be reported: the first time, and on each change.
func (t *threshold) observe(o outcome) bool {
	if t.run > 0 && t.last == o.verdict {
		t.run++
	} else {
		t.last, t.run = o.verdict, 1
	}
	prev := t.state
	ok := o.verdict == success
	need := t.failures
	if ok {
		need = t.successes
	}
	if t.run >= need {
		t.state = ok
	}
	t.message = t.messageFor(o, need)
	report := !t.reported || t.state != prev
	t.reported = true
	return report
}

func (t *threshold) messageFor(o outcome, need int) string {
	switch {
	case t.state:
		return ""
	case o.verdict == failure:
		return o.message
	default:
		return fmt.Sprintf("probe succeeded %d of the %d times in a row it needs", t.run, need)
	}
}
