// Package bench holds skiff's benchmarks. They run real binaries on a private
// containerd as root (`make bench`) and always print the baseline measured in
// the same run beside skiff's figure, because the machines they run on are
// noisy: a ratio is worth more than an absolute number.
//
// BenchmarkSkiff measures, in one run:
//   - pod start: create → status.phase=Running for SKIFF_BENCH_PODS pods
//     (default 20), p50 and p99, beside raw containerd create+start of the
//     same image over the same number of containers and the same concurrency
//     (SKIFF_BENCH_CONCURRENCY, default all at once);
//   - cold start: launching `skiffd dev` on a fresh data dir until its node
//     is Ready;
//   - idle RSS: skiffd plus its plugin processes once the pods are gone,
//     with containerd's RSS as context.
package bench
