// Package rawexec is an EXAMPLE skiff runtime plugin that runs a pod's
// containers as plain processes of the host, without containers, the way
// Nomad's raw_exec driver does. It exists to show how a runtime plugin is
// written against skiff's SDK (github.com/skiffhq/skiff/sdk/runtime), and for
// environments without containerd where that trade-off is acceptable.
//
// # There is no isolation
//
// A "container" here is a host process running as the plugin's user (root,
// under skiffd) unless the pod sets runAsUser/runAsGroup. It sees the host's
// whole filesystem, processes and users, and nothing limits its CPU or
// memory (resource limits are accepted and not enforced). Only run trusted
// workloads with it. What rawexec refuses rather than pretend:
// volume mounts, readOnlyRootFilesystem, capabilities, privileged,
// allowPrivilegeEscalation=false and TTYs, all with an error wrapping
// base.ErrUnsupported. The files the core mounts into every container to
// set it up (/etc/resolv.conf with the cluster's DNS, /etc/hosts,
// /etc/hostname) are not refused but left out: a host process uses the
// host's own, so cluster DNS names do not resolve in it.
//
// # What things are
//
//   - Images are a catalogue of names, nothing more. ImportImages records the
//     images an OCI or docker archive holds (name, config digest, size, and
//     the config's entrypoint, cmd, env and working directory, which are used
//     as a container's defaults, as Kubernetes would); the layers are not
//     unpacked: the host's filesystem is the root filesystem. PullImage fails
//     with runtime.ErrImagePull for every image except "rawexec/host", a
//     stand-in with no command of its own (so a pod must give one).
//   - A sandbox is a directory, <data dir>/sandboxes/<id>/root: the default
//     working directory of its containers (a relative workingDir is taken
//     inside it). When the network plugin hands the sandbox a network
//     namespace, its processes run in it, so they get the pod's IP and
//     port-forward reaches them; without one they share the host's network.
//     There is no IPC or UTS namespace: the hostname is the host's.
//   - A container is a process started by a small supervisor ("shim"): the
//     plugin's own binary re-run as `<binary> rawexec-shim <dir>` in a new
//     session, so containers outlive the plugin process (a restart or
//     `skiffctl plugin reload runtime` does not touch them). The shim starts
//     the process in its own process group with the command, args, env and
//     working directory, writes its stdout and stderr to LogPath in the CRI
//     log format, waits for it, kills what is left of its process group (as
//     the end of a container's PID 1 would), and records the exit code.
//     Stop sends SIGTERM to the process group, then SIGKILL after the grace
//     period.
//   - Exec runs a process in the container's working directory, with its
//     environment, user and network namespace.
//
// All state is in files under the plugin's data directory, so a restarted
// plugin finds every sandbox and container again:
//
//	<data dir>/images.json                   the image catalogue
//	<data dir>/sandboxes/<id>/sandbox.json   a sandbox
//	<data dir>/sandboxes/<id>/root/          its directory
//	<data dir>/containers/<id>/container.json  a container's config
//	<data dir>/containers/<id>/started.json    written by the shim at start
//	<data dir>/containers/<id>/exit.json       written by the shim at exit
package rawexec
