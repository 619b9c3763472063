// Package runtime is the contract of a skiff container runtime plugin
// (skiff.runtime.v1): images, pod sandboxes, containers, logs, exec and
// port-forward.
//
// The pod lifecycle (which container to start when, restarts, back-off,
// status) is the core agent's job. The runtime does exactly what it is told
// and reports what it sees. It must be able to answer ListSandboxes and
// ListContainers after a restart of itself or of the node agent, from its
// own state (containerd labels, files under Config.DataDir), so the agent
// can re-adopt running containers without restarting them.
//
// Every object the runtime makes carries the labels it was given; the agent
// finds its pods and containers again by those labels.
package runtime

import (
	"context"
	"io"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/skiffhq/skiff/sdk/base"
)

// APIVersion is the newest version of this contract the SDK speaks.
const APIVersion = 1

// Image is an image the runtime has locally.
type Image struct {
	// Ref is the normalized reference, e.g. "docker.io/library/nginx:latest".
	Ref string
	// ID is the image's config digest ("sha256:...").
	ID string
	// RepoDigest is the manifest digest reference, when known.
	RepoDigest string
	Size       int64
}

// PullOptions tunes PullImage.
type PullOptions struct {
	// PlainHTTP lists registry hosts ("127.0.0.1:5000") reached over plain
	// HTTP instead of HTTPS.
	PlainHTTPRegistries []string
}

// SandboxConfig describes a pod sandbox: the shared context all of a pod's
// containers run in. Every container of a sandbox shares its network
// namespace (NetNSPath), its IPC namespace and its UTS namespace (so the
// hostname); the runtime makes and keeps the IPC and UTS namespaces for as
// long as the sandbox exists, and they survive restarts of the plugin.
type SandboxConfig struct {
	PodUID    string
	Namespace string
	Name      string
	// Hostname is the pod's hostname, shared by its containers.
	Hostname string
	// NetNSPath is the pod's network namespace, made by the network plugin.
	// Every container of the pod joins it. When it is empty the runtime
	// makes the sandbox a network namespace of its own, with only the
	// loopback interface (up), kept like the IPC and UTS namespaces.
	NetNSPath string
	Labels    map[string]string
}

// Sandbox is a sandbox the runtime knows.
type Sandbox struct {
	ID        string
	PodUID    string
	Namespace string
	Name      string
	// NetNSPath is SandboxConfig.NetNSPath as given (empty when the
	// runtime made the namespace).
	NetNSPath string
	Labels    map[string]string
	CreatedAt time.Time
}

// Mount binds a host path into a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// ContainerResources are the limits the runtime enforces with cgroups.
// Zero means unlimited.
type ContainerResources struct {
	// CPUShares is the relative weight from the CPU request.
	CPUShares uint64
	// CPUQuota and CPUPeriod (microseconds) come from the CPU limit.
	CPUQuota  int64
	CPUPeriod uint64
	// MemoryLimitBytes comes from the memory limit.
	MemoryLimitBytes int64
}

// ContainerConfig describes a container to create in a sandbox.
type ContainerConfig struct {
	Name  string
	Image string
	// Command and Args follow Kubernetes: Command replaces the image's
	// entrypoint, Args its cmd; a Command without Args drops the image's cmd.
	Command    []string
	Args       []string
	Env        []string // "KEY=value"
	WorkingDir string
	Labels     map[string]string
	// LogPath is the file the container's output is written to, one line
	// per record: "<RFC3339Nano> <stdout|stderr> <F|P> <text>" (the CRI
	// log format). The runtime creates the file's directory.
	LogPath   string
	Mounts    []Mount
	Resources ContainerResources
	Security  SecurityConfig
	TTY       bool
	Stdin     bool
}

// SecurityConfig is a container's securityContext, already merged from the
// pod's and the container's by the caller.
type SecurityConfig struct {
	// RunAsUser and RunAsGroup override the image's user when set.
	RunAsUser  *int64
	RunAsGroup *int64
	// RunAsNonRoot refuses to create a container whose effective user
	// (RunAsUser, else the image's USER) is root or cannot be known to be
	// non-root (a user name): the error wraps ErrRunAsRoot.
	RunAsNonRoot bool
	// ReadOnlyRootfs mounts the root filesystem read-only.
	ReadOnlyRootfs bool
	// CapAdd and CapDrop adjust the default capability set ("NET_ADMIN"
	// or "CAP_NET_ADMIN"; "ALL" in CapDrop drops every one first).
	CapAdd  []string
	CapDrop []string
	// NoNewPrivileges is allowPrivilegeEscalation=false.
	NoNewPrivileges bool
	// Privileged gives every capability and device. The caller decides
	// whether the node allows it.
	Privileged bool
}

// ContainerState is where a container is in its life.
type ContainerState int

const (
	StateUnknown ContainerState = iota
	StateCreated
	StateRunning
	StateExited
)

func (s ContainerState) String() string {
	switch s {
	case StateCreated:
		return "created"
	case StateRunning:
		return "running"
	case StateExited:
		return "exited"
	}
	return "unknown"
}

// ContainerStatus is what the runtime sees of a container.
type ContainerStatus struct {
	ID        string
	SandboxID string
	Name      string
	Image     string
	// ImageID is the image's config digest.
	ImageID    string
	Labels     map[string]string
	State      ContainerState
	PID        int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	// Reason is Kubernetes' word for how it ended: "Completed", "Error",
	// "OOMKilled".
	Reason  string
	Message string
	LogPath string
}

// LogOptions selects what ContainerLogs returns.
type LogOptions struct {
	Follow bool
	// TailLines, when >= 0, returns only the last N lines; -1 means all.
	// Note that the zero value asks for no lines: set -1 for the whole log.
	TailLines int64
	// Timestamps prefixes each line with its RFC3339Nano time.
	Timestamps bool
}

// TermSize is a terminal size for exec with a TTY.
type TermSize struct {
	Width  uint16
	Height uint16
}

// ExecOptions describes a command to run in a running container.
type ExecOptions struct {
	Cmd    []string
	TTY    bool
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer
	Stderr io.Writer // unused with TTY
	// Resize delivers terminal size changes while the command runs. A size
	// already waiting on it when Exec is called is the initial size: the SDK
	// sends it with the start, and a runtime should apply it before the
	// command runs (it is the first value an implementation receives).
	Resize <-chan TermSize
}

// Runtime is implemented by a container runtime plugin.
type Runtime interface {
	base.Plugin

	// PullImage fetches an image from its registry. A failure wraps
	// ErrImagePull with the registry's error in the message.
	PullImage(ctx context.Context, ref string, opts PullOptions) (Image, error)
	// ImageStatus returns the local image for ref, or an error wrapping
	// base.ErrNotFound.
	ImageStatus(ctx context.Context, ref string) (Image, error)
	// ListImages lists local images.
	ListImages(ctx context.Context) ([]Image, error)
	// ImportImages loads an OCI or docker-archive tar and returns the
	// images it held.
	ImportImages(ctx context.Context, archive io.Reader) ([]Image, error)

	// RunPodSandbox creates the pod's sandbox and returns its ID. It is
	// idempotent per PodUID: a second call returns the existing sandbox.
	RunPodSandbox(ctx context.Context, cfg SandboxConfig) (string, error)
	// StopPodSandbox stops every container of the sandbox.
	StopPodSandbox(ctx context.Context, sandboxID string) error
	// RemovePodSandbox removes the sandbox and its containers. Removing an
	// unknown sandbox is not an error.
	RemovePodSandbox(ctx context.Context, sandboxID string) error
	// ListSandboxes lists sandboxes whose labels include every given label.
	ListSandboxes(ctx context.Context, labels map[string]string) ([]Sandbox, error)

	// CreateContainer creates (does not start) a container in a sandbox.
	// The image must be local: a missing one wraps ErrImageNotPresent.
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends SIGTERM, waits up to timeout, then SIGKILL. Stopping
	// a stopped container is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container; its log file stays. Removing an
	// unknown container is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// ContainerStatus reports one container, or an error wrapping
	// base.ErrNotFound.
	ContainerStatus(ctx context.Context, id string) (ContainerStatus, error)
	// ListContainers lists containers whose labels include every given label.
	ListContainers(ctx context.Context, labels map[string]string) ([]ContainerStatus, error)

	// ContainerLogs streams a container's log, as the text the container
	// wrote (with timestamps if asked). With Follow it ends when ctx ends or
	// the container has exited and the log is drained.
	ContainerLogs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Exec runs a command in a running container and returns its exit code.
	Exec(ctx context.Context, id string, opts ExecOptions) (int, error)

	// PortForward connects stream to a TCP port inside the sandbox's network
	// namespace, as a connection to 127.0.0.1:port made from inside it (so
	// ports bound to the pod's localhost are reached). Each call is one
	// connection. A port nothing listens on, or a sandbox without a network
	// namespace, is an error wrapping ErrPortForward, returned before
	// anything is read from stream; an unknown sandbox wraps base.ErrNotFound.
	//
	// Once connected it copies both ways and passes half-closes on: when a
	// Read of stream returns io.EOF, the connection's write side is shut down
	// and what the port still sends keeps flowing back; when the port's side
	// stops sending, stream's CloseWrite is called if it has one (see
	// CloseWriter). It returns nil when the connection has ended both ways
	// (or the port's side has ended and the caller's has not within about a
	// second), ctx.Err() when ctx ends first, and the error when a side
	// fails. A Read of stream may still be pending when it returns: the
	// caller ends it by closing what stream reads from.
	PortForward(ctx context.Context, sandboxID string, port int, stream io.ReadWriter) error
}

// CloseWriter is implemented by PortForward streams that can half-close:
// shut down their sending side while still receiving, as *net.TCPConn does.
type CloseWriter interface {
	CloseWrite() error
}

// Errors a runtime returns, wrapped with detail.
var (
	// ErrImagePull: the registry could not give the image.
	ErrImagePull = base.NewError("runtime.ImagePull", codes.Unavailable, "image pull failed")
	// ErrImageNotPresent: the image is not local and was not pulled.
	ErrImageNotPresent = base.NewError("runtime.ImageNotPresent", codes.FailedPrecondition, "image not present")
	// ErrInvalidArchive: ImportImages got something that is not an image tar.
	ErrInvalidArchive = base.NewError("runtime.InvalidArchive", codes.InvalidArgument, "not an image archive")
	// ErrContainerNotRunning: Exec on a container that is not running.
	ErrContainerNotRunning = base.NewError("runtime.ContainerNotRunning", codes.FailedPrecondition, "container not running")
	// ErrRunAsRoot: RunAsNonRoot is set but the container would run as root.
	ErrRunAsRoot = base.NewError("runtime.RunAsRoot", codes.FailedPrecondition, "container has runAsNonRoot and image will run as root")
	// ErrPortForward: the port in the sandbox could not be reached.
	ErrPortForward = base.NewError("runtime.PortForward", codes.Unavailable, "port forward failed")
)
