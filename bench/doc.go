// Package bench holds skiff's benchmarks. They run the real binaries (from
// SKIFF_BIN_DIR, which `make bench` sets) on a private containerd as root,
// and always print the baseline measured in the same run beside skiff's
// figure: the machines they run on are noisy, so the ratio is what counts.
//
// BenchmarkSkiff measures, in one run:
//   - pod start: create returning → status.phase=Running (seen by a watch)
//     for SKIFF_BENCH_PODS pods (default 20), p50 and p99, beside raw
//     containerd create+start of the same image for as many containers, with
//     the same number in flight (SKIFF_BENCH_CONCURRENCY, default all at
//     once, as when applying N pods; 1 shows the path's own latency), pooled
//     over SKIFF_BENCH_ROUNDS rounds (default 3) in which raw and skiff take
//     turns going first. It also splits skiff's time into stages: binding,
//     then, from containerd's events, sandbox, container create, task start
//     and status; and it reports the per-pod log driver processes;
//   - cold start: launching `skiffd dev` on a fresh data dir until its node
//     is Ready;
//   - idle RSS: skiffd plus its plugin processes 5s after the pods are gone,
//     with containerd's RSS (not counted) as context.
//
// It prints a table and reports each figure with b.ReportMetric; compare
// runs with `-count 5` and benchstat. SKIFF_BENCH_LOG=path keeps skiffd's
// log. Targets are printed, never enforced: a noisy machine is not a failure.
//
// BenchmarkIdleNode measures the CPU an idle node spends keeping
// SKIFF_BENCH_IDLE_PODS running pods (default 30, `sleep 3600` each) in
// sync: skiffd with its plugins and log drivers, and containerd, over
// SKIFF_BENCH_IDLE_WINDOW (default 20s) once the pods have been Running and
// Ready for 5s, as % of one core. The baseline is `--sync-frequency 1s`
// (every pod fully synced every second, as before the agent's relist),
// beside the default, each on a fresh `skiffd dev`; it fails, not skips,
// when skiffd has no --sync-frequency. With SKIFF_BENCH_LOG, the log kept is
// the baseline's (cleanups run last-first).
package bench
