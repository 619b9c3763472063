// Package containerdruntime is skiff's runtime plugin on containerd
// (client v1.7, daemon 1.6 or newer, runc v2 shim).
//
// # Objects and state
//
// All state lives in containerd (and, for sandboxes, in mounts under the data
// dir), so a restarted plugin finds everything again (see the runtime
// contract). In the configured namespace:
//
//   - a pod sandbox is a task-less containerd container with a minimal spec
//     and no snapshot, plus its namespace files (see below). Its ID is
//     derived from the pod UID, which makes RunPodSandbox idempotent even
//     when raced. Labels hold the pod's UID, namespace, name, hostname and
//     network namespace path.
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
// A status query that finds no task re-reads the labels before it
// concludes anything: the watcher may have finalized the container since
// they were read, and its exit is there now.
//
// # Listing
//
// ListContainers and ListSandboxes hand the wanted labels to containerd as
// a filter and take each record's labels from the listing, so asking for
// one pod's containers (which the agent does for each pod on every sync)
// costs calls for that pod's containers only, not for every container on
// the node. (It used to be one call per container on the node per query:
// quadratic in pods, and the garbage of it kept the plugin's resident
// memory growing with the number of pods.)
//
// # Logs
//
// Container output must keep flowing to its log file while the plugin is
// down or restarting, and the file must be in the CRI format
// ("<RFC3339Nano> <stdout|stderr> <F|P> <text>"). Decision: the task's IO is
// containerd's "binary://" log URI pointing at skiff's log driver,
// skiff-log-driver (../logdriver), with its arguments in the URI's query
// (package crilog defines both the arguments and the format). The runc shim
// starts it as the container's log driver, as its own child, with the
// container's stdout and stderr pipes on fds 3 and 4 and a ready pipe on fd
// 5 (containerd's runtime/v2/logging protocol); it timestamps each line and
// appends CRI records to the log path. The driver lives exactly as long as
// the task's IO: the shim closes the pipes and signals it when the task is
// deleted, and it drains what is left and exits. Nothing of it depends on
// the plugin process, which can die and come back at any time.
//
// The driver is a binary of its own, not the plugin's executable in another
// mode, because there is one per running container: it imports only the
// standard library, so it starts in a couple of milliseconds and stays
// under 3 MB resident, where the plugin's own binary took 10-40 ms to start
// and over 20 MB each. The log_driver setting names
// it; by default it is skiff-log-driver beside the plugin's executable
// (`make build` puts it there), and Configure refuses to start without a
// driver the shim can run. If the log file cannot be written the driver
// keeps reading (a container must not block on a full pipe) and retries
// with each line.
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
// # Sandbox namespaces
//
// The containers of a sandbox share its IPC namespace, its UTS namespace
// (hostname: the sandbox's Hostname, or the pod name) and its network
// namespace: the network plugin's NetNSPath when given, otherwise one the
// runtime makes, with only loopback, up. They share its /dev/shm too, a
// 64 MiB tmpfs at <data dir>/sandboxes/<sandbox id>/shm bind-mounted into
// each, so POSIX shared memory is shared like SysV IPC, as in a Kubernetes
// pod. The runtime's namespaces belong to no process: they are bind-mounted
// on files under <data dir>/sandboxes/<sandbox id>/{ipc,uts,net} (the way
// `ip netns add` keeps a network namespace), made by a locked thread that
// unshares, sets the hostname, brings loopback up, mounts them and goes back
// to its own namespaces before it is unlocked. (Decision: the thread is
// restored rather than thrown away, because ending threads kills children
// started with Pdeathsig from them, such as a test's containerd; it is
// thrown away only if restoring fails.) So the namespaces outlive every
// container and the plugin, and containers join them by path; the spec sets
// no hostname of its own, so no container changes the others'.
// RunPodSandbox makes them after recording the sandbox (rolling both back on
// failure); RemovePodSandbox unmounts and deletes them after removing the
// containers and before deleting the record, so a failure or a crash leaves
// a sandbox that removing again finishes. After a reboot the files remain
// but are not mounted: CreateContainer (and RunPodSandbox) make new
// namespaces (and a new /dev/shm) in their place, under a per-sandbox lock. Each container keeps
// its own PID and mount namespaces.
//
// /etc/hosts and /etc/resolv.conf are left as the image has them.
//
// # Port-forward
//
// PortForward reads the sandbox's network namespace path from its labels
// (or takes the runtime's own), and dials 127.0.0.1:port from a goroutine
// locked to its OS thread while the thread is in that namespace; the thread
// goes back to its namespace before it is unlocked (and is thrown away if
// that fails). The socket keeps belonging to the sandbox's namespace. Then
// two copiers pass bytes and half-closes both ways: the caller's EOF is a
// TCP shutdown of the write side; the port's EOF is the stream's CloseWrite.
// The forward ends when both directions have ended, or a second after the
// port's side ended if the caller's has not (a port that only half-closed
// and still reads gets that second), or when ctx ends.
//
// # Security context
//
// Applied after the image's config: RunAsUser/RunAsGroup override its USER
// (a group alone keeps the image's user; names and a lone uid's group are
// resolved in the image's /etc/passwd, supplementary groups in its
// /etc/group). RunAsNonRoot is checked before anything is made, as kubelet
// does: RunAsUser 0, or with no RunAsUser an image USER that is empty, 0 or
// "root", or a user name, is refused with runtime.ErrRunAsRoot. Capabilities
// follow containerd's CRI plugin: "ALL" in CapAdd takes the plugin's own
// capabilities, "ALL" in CapDrop empties the set, then the named ones are
// added and dropped ("NET_ADMIN", "net_admin" and "CAP_NET_ADMIN" are the
// same; unknown names are invalid). no_new_privs is set only with
// NoNewPrivileges (containerd's default spec sets it; Kubernetes' default
// does not). Privileged takes every capability the plugin has, every host
// device, no masked or read-only paths and a writable /sys, and ignores
// CapAdd and CapDrop.
//
// Limits: ContainerConfig.Stdin is accepted but a container's stdin is not
// wired (the contract has no attach); Exec's stdin is.
package containerdruntime
