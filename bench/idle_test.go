package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/test/testenv"
	"github.com/skiffhq/skiff/test/testimage"
)

// Targets of this bench (no issue sets numbers): syncing settled pods on
// events plus every --sync-frequency instead of every second should at
// least halve what an idle node burns, and the hope is a quarter.
const (
	targetIdleRatio = 2.0
	goalIdleRatio   = 4.0
)

// idleSetting is one way of running the agent, and what it cost.
type idleSetting struct {
	name string
	args []string // extra `skiffd dev` flags
	cpu  idleCPU
}

// BenchmarkIdleNode measures the CPU an idle node spends keeping N running
// pods in sync (SKIFF_BENCH_IDLE_PODS, default 30, each running `sleep
// 3600`), over a window of SKIFF_BENCH_IDLE_WINDOW (default 20s) that starts
// 5s after every pod is Running and Ready. The baseline, measured in the
// same run, is `--sync-frequency 1s`: every pod fully synced every second,
// as the agent did before its relist (pleg.go). The other setting is the
// default, which syncs a settled pod on events and every 10s. Each setting
// gets a fresh `skiffd dev` on the same containerd, and the node is taken
// apart between the two. The baseline always runs first: the order is fixed
// so the table reads the same every time; with -count 5 benchstat shows how
// much the machine drifted.
func BenchmarkIdleNode(b *testing.B) {
	bin := binDir(b)
	n := envInt(b, "SKIFF_BENCH_IDLE_PODS", 30)
	window := envSeconds(b, "SKIFF_BENCH_IDLE_WINDOW", 20*time.Second)
	// Checked before anything starts: an older skiffd would die on the
	// unknown flag, and the harness would only say it exited before Ready.
	requireFlag(b, bin, "--sync-frequency")
	testenv.RequireRoot(b)
	socket := testenv.Containerd(b)
	archive, err := testimage.BusyboxArchive(b.TempDir(), benchImage)
	if err != nil {
		b.Fatalf("build bench image: %v", err)
	}

	settings := []idleSetting{
		{name: "baseline --sync-frequency 1s", args: []string{"--sync-frequency", "1s"}},
		{name: "default (no flag)"},
	}
	for i := range settings {
		settings[i].cpu = idleRun(b, bin, socket, archive, n, window, settings[i].args)
	}
	fmt.Print(idleTable(n, window, settings))
	idleMetrics(b, settings)
}

// requireFlag fails the bench (never skips it: the comparison is the point)
// when `skiffd dev` does not know flag.
func requireFlag(b *testing.B, bin, flag string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "skiffd"), "dev", "--help").CombinedOutput()
	if err != nil {
		b.Fatalf("skiffd dev --help: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(flag+" ")) {
		b.Fatalf("%s/skiffd dev has no %s flag: this bench compares the agent with --sync-frequency 1s (the old every-second sync of every pod) against its default, so it needs a skiffd built with that flag (run `make build`)",
			bin, flag)
	}
}

// idleRun starts skiffd with args, runs n sleeping pods, measures the
// idle window, then deletes the pods, stops skiffd and takes the node's
// network and sandboxes apart, so that the next setting starts from the
// same state as this one.
func idleRun(b *testing.B, bin, socket, archive string, n int, window time.Duration, args []string) idleCPU {
	b.Helper()
	s, _ := startSkiffd(b, bin, socket, args...)
	s.ctl("image", "load", archive)
	// Created one by one, without a watch: the pods' start is not measured,
	// and an open watch would be one more thing for skiffd to serve during
	// the window.
	ctx := context.Background()
	for i := range n {
		pod := benchPod(fmt.Sprintf("idle-%03d", i))
		pod.Labels[benchLabel] = "idle"
		if err := s.client.Create(ctx, api.Pods, podNamespace, pod); err != nil {
			b.Fatalf("create pod %q: %v", pod.Name, err)
		}
	}
	if err := waitPodsReady(s, n, podTimeout); err != nil {
		b.Fatal(err)
	}
	// Let the last status writes, probes and log driver starts pass.
	time.Sleep(settleTime)
	cpu := measureIdleCPU(s, socket, window)
	if cpu.running != n {
		b.Logf("%d log driver processes during the window, expected one per pod (%d)", cpu.running, n)
	}

	if err := s.deleteBenchPods(podTimeout); err != nil {
		b.Fatal(err)
	}
	// The harness's cleanup still runs at the end; with the client gone and
	// the process stopped it only keeps the log and tears down again.
	s.client.Close()
	s.client = nil
	s.stop()
	testenv.TeardownNode(b, s.dataDir, benchBridge)
	return cpu
}

// waitPodsReady polls until n bench pods are Running with condition Ready.
func waitPodsReady(s *skiffd, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sel := client.ListOptions{LabelSelector: benchLabel}
	for {
		pods, _, err := client.List[corev1.Pod](ctx, s.client, api.Pods, podNamespace, sel)
		ready, first := 0, ""
		for _, p := range pods {
			switch {
			case p.Status.Phase == corev1.PodRunning && podReady(&p):
				ready++
			case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
				return fmt.Errorf("pod %q ended %s: %s %s", p.Name, p.Status.Phase, p.Status.Reason, p.Status.Message)
			case first == "":
				first = fmt.Sprintf("%s is %s", p.Name, p.Status.Phase)
			}
		}
		if err == nil && ready == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d bench pods Running and Ready after %v (%s; last list error: %v)", ready, n, timeout, first, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// idleCPU is the CPU time spent during the window, by process group.
type idleCPU struct {
	window     time.Duration            // as measured, a little over the one asked for
	skiff      time.Duration            // skiffd, its descendants (plugins) and the log drivers
	containerd time.Duration            // the containerd process alone
	shims      time.Duration            // containerd's shims: context, not in the total
	procs      int                      // skiff processes counted
	running    int                      // log drivers among them: one per running container
	started    int                      // skiff processes that appeared during the window
	ended      int                      // and that went away, their CPU lost
	noCtd      bool                     // containerd not found (a shared one, by socket)
	logLines   int                      // skiffd log lines written during the window
	logWarns   int                      // of which warnings and errors
	logSample  string                   // the first of those
	byName     map[string]time.Duration // skiff's CPU by program
}

func (c idleCPU) total() time.Duration { return c.skiff + c.containerd }

// split lists skiff's CPU by program, the largest first.
func (c idleCPU) split() string {
	names := slices.Collect(maps.Keys(c.byName))
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(c.byName[b], c.byName[a]), strings.Compare(a, b)) })
	var out []string
	for _, name := range names {
		out = append(out, fmt.Sprintf("%s %.2f%%", name, c.pct(c.byName[name])))
	}
	return strings.Join(out, ", ")
}

// pct is CPU time as a percentage of one core over the window.
func (c idleCPU) pct(d time.Duration) float64 {
	return 100 * d.Seconds() / c.window.Seconds()
}

// procKey tells a process from a later one that got the same PID.
type procKey struct {
	pid   int
	start uint64 // starttime in /proc/PID/stat, clock ticks after boot
}

// cpuGroups is the CPU time so far of each live process, by group.
type cpuGroups struct {
	skiff, containerd, shims map[procKey]time.Duration
	names                    map[procKey]string // of skiff's processes
	logDrivers               int
}

// measureIdleCPU reads the CPU time of skiff's processes, of containerd and
// of its shims at the start and at the end of the window, and sums, per
// process alive at the end, what it used in between (all of it, for one
// started during the window). A process that ended during the window is
// left out, and counted: /proc has nothing of it any more.
func measureIdleCPU(s *skiffd, socket string, window time.Duration) idleCPU {
	logStart := fileSize(s.logPath)
	t0 := time.Now()
	before := sampleCPU(s, socket)
	time.Sleep(window)
	after := sampleCPU(s, socket)
	c := idleCPU{window: time.Since(t0), running: after.logDrivers, procs: len(after.skiff)}
	c.skiff, c.started, c.ended = cpuDelta(before.skiff, after.skiff)
	c.byName = map[string]time.Duration{}
	for k, name := range after.names {
		c.byName[name] += max(after.skiff[k]-before.skiff[k], 0)
	}
	c.containerd, _, _ = cpuDelta(before.containerd, after.containerd)
	c.shims, _, _ = cpuDelta(before.shims, after.shims)
	c.noCtd = len(after.containerd) == 0
	c.logLines, c.logWarns, c.logSample = logActivity(s.logPath, logStart, fileSize(s.logPath))
	return c
}

func cpuDelta(before, after map[procKey]time.Duration) (used time.Duration, started, ended int) {
	for k, t := range after {
		t0, ok := before[k]
		if !ok {
			started++
		}
		// An earlier reading larger than a later one is a process that
		// ended between reading its starttime and its CPU.
		used += max(t-t0, 0)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			ended++
		}
	}
	return used, started, ended
}

// sampleCPU finds the processes of each group and reads their CPU time.
// skiff's are skiffd and everything under it (the plugins, anything they
// run), except a containerd skiffd might have started itself, plus the
// log drivers, which the shims start.
func sampleCPU(s *skiffd, socket string) cpuGroups {
	g := cpuGroups{skiff: map[procKey]time.Duration{}, containerd: map[procKey]time.Duration{}, shims: map[procKey]time.Duration{}, names: map[procKey]string{}}
	add := func(m map[procKey]time.Duration, pid int) (procKey, bool) {
		start, ok := procStartTime(pid)
		k := procKey{pid, start}
		if ok {
			m[k] = procCPU(pid)
		}
		return k, ok
	}
	root := s.cmd.Process.Pid
	for _, pid := range append([]int{root}, descendants(root)...) {
		args := cmdline(pid)
		if len(args) == 0 { // gone, or a zombie
			continue
		}
		if strings.HasPrefix(filepath.Base(args[0]), "containerd") {
			continue
		}
		if k, ok := add(g.skiff, pid); ok {
			g.names[k] = filepath.Base(args[0])
		}
	}
	for _, ld := range logDrivers(s.dataDir) {
		if k, ok := add(g.skiff, ld.pid); ok {
			g.names[k] = "log drivers"
		}
		g.logDrivers++
	}
	if pid := containerdPID(socket); pid != 0 {
		add(g.containerd, pid)
	}
	for _, pid := range pids() {
		if args := cmdline(pid); len(args) > 0 && strings.Contains(args[0], "containerd-shim") && slices.Contains(args, socket) {
			add(g.shims, pid)
		}
	}
	return g
}

// descendants lists every process under pid, from one pass over /proc.
func descendants(pid int) []int {
	kids := map[int][]int{}
	for _, p := range pids() {
		if pp := parentPID(p); pp > 0 {
			kids[pp] = append(kids[pp], p)
		}
	}
	var out []int
	queue := kids[pid]
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, kids[p]...)
	}
	return out
}

// procStartTime reads when pid started (field 22 of /proc/PID/stat).
func procStartTime(pid int) (uint64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces) start at ") ";
	// state is field 3, so starttime is the 20th of these.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(f) < 20 {
		return 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	return start, err == nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logActivity counts the lines skiffd (and its plugins, through it) logged
// between two offsets of its log, and the warnings and errors among them:
// an idle node that logs is doing something.
func logActivity(path string, from, to int64) (lines, warns int, sample string) {
	f, err := os.Open(path)
	if err != nil || to <= from {
		return 0, 0, ""
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, from, to-from))
	if err != nil {
		return 0, 0, ""
	}
	for line := range strings.Lines(string(data)) {
		lines++
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") ||
			strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			warns++
			if sample == "" {
				sample = strings.TrimSpace(line)
				if len(sample) > 240 {
					sample = sample[:240] + "..."
				}
			}
		}
	}
	return lines, warns, sample
}

func idleTable(n int, window time.Duration, settings []idleSetting) string {
	base, def := settings[0].cpu, settings[1].cpu
	var sb strings.Builder
	sb.WriteString("\ndetails:\n")
	fmt.Fprintf(&sb, "  CPU is utime+stime from /proc/PID/stat (10ms ticks) of the processes alive at the window's end, as %% of one core over the window\n")
	fmt.Fprintf(&sb, "  skiffd+plugins is skiffd, every process under it and the per-container log drivers (under the shims); containerd is its daemon alone\n")
	for _, st := range settings {
		c := st.cpu
		ctd := ""
		if c.noCtd {
			ctd = "; containerd process not found (a shared one?): its column is 0"
		}
		fmt.Fprintf(&sb, "  %s: %d skiff processes (%d log drivers), %d appeared and %d went away during the window; shims %.2f%% (not in the total); %.3f%% of a core per pod%s\n",
			st.name, c.procs, c.running, c.started, c.ended, c.pct(c.shims), c.pct(c.total())/float64(n), ctd)
		fmt.Fprintf(&sb, "    skiffd+plugins by program: %s\n", c.split())
		fmt.Fprintf(&sb, "    skiffd log during the window: %d lines, %d warnings or errors", c.logLines, c.logWarns)
		if c.logSample != "" {
			fmt.Fprintf(&sb, "; first: %s", c.logSample)
		}
		sb.WriteString("\n")
	}
	sb.WriteString("\n")

	row := func(label string, cols ...string) {
		fmt.Fprintf(&sb, "%-32s", label)
		for _, c := range cols {
			fmt.Fprintf(&sb, " %-15s", c)
		}
		sb.WriteString("\n")
	}
	pct := func(c idleCPU, d time.Duration) string { return fmt.Sprintf("%.2f%%", c.pct(d)) }
	row(fmt.Sprintf("idle node (N=%d, %v window)", n, window), "skiffd+plugins", "containerd", "total")
	for _, st := range settings {
		row(st.name, pct(st.cpu, st.cpu.skiff), pct(st.cpu, st.cpu.containerd), pct(st.cpu, st.cpu.total()))
	}
	r := ratio(base.total(), def.total())
	row("ratio baseline/default", fmt.Sprintf("%.2fx", ratio(base.skiff, def.skiff)), fmt.Sprintf("%.2fx", ratio(base.containerd, def.containerd)),
		fmt.Sprintf("%.2fx", r), fmt.Sprintf("(target total >= %.0fx, goal %.0fx: %s)", targetIdleRatio, goalIdleRatio, verdict(r >= targetIdleRatio, r >= goalIdleRatio)))
	sb.WriteString("\n")
	return sb.String()
}

// idleMetrics reports the numbers for benchstat; ns/op (the whole run)
// means nothing here and is suppressed.
func idleMetrics(b *testing.B, settings []idleSetting) {
	b.ReportMetric(0, "ns/op")
	for _, st := range settings {
		tag := "default"
		if len(st.args) > 0 {
			tag = "baseline"
		}
		c := st.cpu
		b.ReportMetric(c.pct(c.skiff), tag+"-skiff-cpu-%")
		b.ReportMetric(c.pct(c.containerd), tag+"-containerd-cpu-%")
		b.ReportMetric(c.pct(c.total()), tag+"-total-cpu-%")
	}
	base, def := settings[0].cpu, settings[1].cpu
	b.ReportMetric(ratio(base.total(), def.total()), "ratio-total")
	b.ReportMetric(ratio(base.skiff, def.skiff), "ratio-skiff")
}

// envSeconds reads a duration ("20s", "1m") or a number of seconds.
func envSeconds(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, aerr := strconv.Atoi(v)
		d, err = time.Duration(n)*time.Second, aerr
	}
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration (20s) or number of seconds", name, v)
	}
	return d
}
