package containerdruntime

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
)

// finalize records the exit of a stopped task in its container's labels,
// then deletes the task, which makes the shim close the container's IO: the
// log driver drains and exits before Delete returns. It is idempotent and
// safe to race.
func (r *Runtime) finalize(ctx context.Context, ctr containerd.Container, task containerd.Task) error {
	unlock := r.locks.lock(ctr.ID())
	defer unlock()
	// Finishing the job matters more than the caller's deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return nil // finalized by someone else
	}
	if err != nil {
		return fmt.Errorf("task: %w", err)
	}
	if st.Status != containerd.Stopped {
		return fmt.Errorf("task is %s, not stopped", st.Status)
	}
	exit := exitLabels(st, r.oomKilled(ctx, ctr))
	if _, err := ctr.SetLabels(ctx, exit); err != nil {
		return fmt.Errorf("recording the exit: %w", err)
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting the exited task: %w", err)
	}
	return nil
}

// exitLabels describes an exit the way Kubernetes does.
func exitLabels(st containerd.Status, oom bool) map[string]string {
	reason, msg := "Completed", ""
	switch {
	case st.ExitStatus != 0 && oom:
		reason, msg = "OOMKilled", "the container's memory cgroup killed a process for lack of memory"
	case st.ExitStatus != 0:
		reason = "Error"
	}
	finished := st.ExitTime
	if finished.IsZero() {
		finished = time.Now()
	}
	return map[string]string{
		labelExitCode:   strconv.FormatUint(uint64(st.ExitStatus), 10),
		labelFinishedAt: formatTime(finished),
		labelReason:     reason,
		labelMessage:    msg,
	}
}

// oomKilled reports whether the kernel OOM-killed anything in the
// container's memory cgroup. It needs the cgroup to still exist, which it
// does until the task is deleted.
func (r *Runtime) oomKilled(ctx context.Context, ctr containerd.Container) bool {
	spec, err := ctr.Spec(ctx)
	if err != nil || spec.Linux == nil || !strings.HasPrefix(spec.Linux.CgroupsPath, "/") {
		return false // systemd-style paths are not handled
	}
	file, key := filepath.Join("/sys/fs/cgroup/memory", spec.Linux.CgroupsPath, "memory.oom_control"), "oom_kill"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		file = filepath.Join("/sys/fs/cgroup", spec.Linux.CgroupsPath, "memory.events")
	}
	n, err := readCounter(file, key)
	if err != nil {
		r.log.Debug("reading the OOM-kill counter", "container", ctr.ID(), "error", err)
		return false
	}
	return n > 0
}

// readCounter reads "key value" out of a cgroup file with such lines.
func readCounter(path, key string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == key {
			return strconv.ParseUint(fields[1], 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no %q line", path, key)
}

// watch finalizes task as soon as it exits, for as long as the conn lives.
// One watcher per container.
func (r *Runtime) watch(c *conn, ctr containerd.Container, task containerd.Task) {
	c.mu.Lock()
	if c.watching[ctr.ID()] || c.bg.Err() != nil {
		c.mu.Unlock()
		return
	}
	c.watching[ctr.ID()] = true
	c.watchers.Add(1)
	c.mu.Unlock()

	exitC, err := task.Wait(c.bg)
	if err != nil {
		r.log.Warn("watching a task", "container", ctr.ID(), "error", err)
		r.unwatch(c, ctr.ID())
		return
	}
	go func() {
		defer r.unwatch(c, ctr.ID())
		select {
		case es := <-exitC:
			if es.Error() != nil {
				return // the conn is closing
			}
		case <-c.bg.Done():
			return
		}
		if err := r.finalize(c.bg, ctr, task); err != nil && c.bg.Err() == nil {
			r.log.Warn("finalizing an exited container", "container", ctr.ID(), "error", err)
		}
	}()
}

func (r *Runtime) unwatch(c *conn, id string) {
	c.mu.Lock()
	delete(c.watching, id)
	c.mu.Unlock()
	c.watchers.Done()
}

// adopt takes over the tasks an earlier instance left: it watches the
// running ones and finalizes the ones that exited meanwhile.
func (r *Runtime) adopt(ctx context.Context, c *conn) error {
	ctrs, err := c.client.Containers(ctx, kindFilter(kindContainer))
	if err != nil {
		return err
	}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("container %q: %w", ctr.ID(), err)
		}
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("container %q: task: %w", ctr.ID(), err)
		}
		switch st.Status {
		case containerd.Stopped:
			if err := r.finalize(ctx, ctr, task); err != nil {
				return fmt.Errorf("container %q: %w", ctr.ID(), err)
			}
		case containerd.Created:
			// Never started; StartContainer will.
		default:
			r.watch(c, ctr, task)
		}
	}
	return nil
}
