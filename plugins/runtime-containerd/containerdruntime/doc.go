// Package containerdruntime is skiff's runtime plugin on containerd
// (client v1.7, daemon 1.6 or newer, runc v2 shim).
//
// # Objects and state
//
// All state lives in containerd, so a restarted plugin finds everything
// again (see the runtime contract). In the configured namespace:
//
//   - a pod sandbox is a task-less containerd container with a minimal spec
//     and no snapshot. Its ID is derived from the pod UID, which makes
//     RunPodSandbox idempotent even when raced. Labels hold the pod's UID,
//     namespace, name, hostname and network namespace path.
//   - a container is a containerd container (snapshot of its image, OCI spec)
//     labelled with its sandbox ID, name, image, log path, TTY flag and, once
//     known, its start time and exit (code, time, reason).
//
// Internal labels share the reserved prefix "skiff.runtime."; the labels the
// caller gave are stored beside them under their own keys and are the only
// ones reported back. Callers may not use the reserved prefix.
//
// # Exit status
//
// Whenever the plugin observes a stopped task (a watcher goroutine per
// running task, StopContainer, or any status query, including the scan
// Configure does after a restart) it "finalizes" it: it reads the OOM-kill
// counter of the task's memory cgroup, writes exit code, exit time and
// reason into the container's labels, and deletes the task. So exit status
// survives the plugin and the shim, and a container's task exists exactly
// while it runs (or has exited and is not yet finalized).
//
// OOMKilled: the exit is reported as OOMKilled when the exit code is non-zero
// and the container cgroup's oom_kill counter (memory.oom_control on cgroup
// v1, memory.events on v2) is non-zero. This needs the plugin to see the
// host's /sys/fs/cgroup and the cgroupfs driver's "/<namespace>/<id>" path;
// an OOM kill of a child process that the container's main process survives
// is reported as OOMKilled too if the container later exits non-zero.
//
// # Logs
//
// Container output must keep flowing to its log file while the plugin is
// down or restarting, and the file must be in the CRI format
// ("<RFC3339Nano> <stdout|stderr> <F|P> <text>"). Decision: the task's IO is
// containerd's "binary://" log URI pointing at this plugin's own executable
// with logger arguments. The runc shim starts that binary as the container's
// log driver, as its own child, with the container's stdout and stderr pipes
// on fds 3 and 4 and a ready pipe on fd 5 (containerd's runtime/v2/logging
// protocol); RunLoggerIfInvoked detects that invocation, timestamps each line
// and appends CRI records to the log path. The logger lives exactly as long
// as the task's IO: the shim closes the pipes and signals it when the task is
// deleted, and it drains what is left and exits. Nothing of it depends on the
// plugin process, which can die and come back at any time.
//
// Rejected alternatives: FIFOs read by the plugin (output is lost or blocks
// while the plugin is down); the shim's "file://" URI (raw output, no
// timestamps or stream names, and TTY output would need the plugin anyway).
//
// Lines longer than 16 KiB are split into P records followed by an F record.
// Output at EOF without a final newline is written as an F record. With a
// TTY there is only the terminal's stream, logged as stdout, with its "\r".
//
// ContainerLogs reads the file back. Following ends once the container has
// exited and its task is gone, which is when the logger has drained and
// exited. The file is polled (every 100ms); there is no rotation.
//
// # Networking and the rest of the spec
//
// Containers join the sandbox's network namespace path when it has one;
// otherwise each gets a new, empty network namespace (never the host's). The
// hostname is the sandbox's hostname, or the pod name. /etc/hosts and
// /etc/resolv.conf are left as the image has them. Each container has its own
// PID, IPC, UTS and mount namespaces.
//
// Limits: ContainerConfig.Stdin is accepted but a container's stdin is not
// wired (the contract has no attach); Exec's stdin is.
package containerdruntime
