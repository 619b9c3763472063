// Package probes is the contract of a skiff probes plugin (skiff.probes.v1):
// it runs containers' startup, readiness and liveness probes on their
// schedules and reports transitions.
//
// The agent tells the plugin which containers to probe (AddContainer) and
// when to stop (RemoveContainer); the plugin reports each change of a
// probe's result on the Results stream. Acting on a result (restarting a
// container, marking it ready) is the agent's job. Exec probes reach the
// container through the Host the plugin is given, which the core routes to
// the runtime plugin: plugins never call each other directly.
package probes

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/skiffhq/skiff/sdk/base"
)

// APIVersion is the newest version of this contract the SDK speaks.
const APIVersion = 1

// Kind names which of a container's probes a result belongs to.
type Kind string

const (
	Startup   Kind = "startup"
	Readiness Kind = "readiness"
	Liveness  Kind = "liveness"
)

// HTTPGet is an HTTP(S) GET probe; 200-399 is success.
type HTTPGet struct {
	Scheme  string // "HTTP" or "HTTPS"
	Host    string // default: the pod IP
	Port    int
	Path    string
	Headers map[string]string
}

// TCPSocket succeeds when a TCP connection opens.
type TCPSocket struct {
	Host string
	Port int
}

// GRPC probes the standard gRPC health service.
type GRPC struct {
	Port    int
	Service string
}

// Probe is one probe with Kubernetes' fields and defaults already applied.
// Exactly one of Exec, HTTPGet, TCPSocket and GRPC is set (an Exec of
// length 0 is not set). A plugin may apply Kubernetes' defaults (period
// 10s, timeout 1s, thresholds 1 and 3) to fields left at zero.
type Probe struct {
	Exec             []string
	HTTPGet          *HTTPGet
	TCPSocket        *TCPSocket
	GRPC             *GRPC
	InitialDelay     time.Duration
	Period           time.Duration
	Timeout          time.Duration
	SuccessThreshold int
	FailureThreshold int
}

// Container is a running container and its probes.
type Container struct {
	PodUID        string
	ContainerName string
	ContainerID   string
	PodIP         string
	// StartedAt anchors InitialDelay.
	StartedAt time.Time
	Startup   *Probe
	Readiness *Probe
	Liveness  *Probe
}

// Result is a transition of one probe of one container.
type Result struct {
	ContainerID string
	Probe       Kind
	// Success is the probe's new state after its thresholds.
	Success bool
	// Message explains a failure in kubelet's words, e.g. "HTTP probe
	// failed with statuscode: 404".
	Message string
	At      time.Time
}

// Host is what the core offers a probes plugin back over go-plugin's broker.
// The core sets it as GRPCPlugin.Host (or uses ClientVersionsWithHost); the
// SDK serves it on the broker and hands it to the plugin, through
// HostSetter, before the first AddContainer. Errors cross the wire as the
// plugin's do.
type Host interface {
	// Exec runs cmd in the container and returns its exit code and output.
	Exec(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (int, []byte, error)
}

// Prober is implemented by a probes plugin.
type Prober interface {
	base.Plugin

	// AddContainer starts (or replaces) the probes of a container. The host
	// is used for exec probes.
	AddContainer(ctx context.Context, c Container) error
	// RemoveContainer stops every probe of a container. Unknown IDs are not
	// an error.
	RemoveContainer(ctx context.Context, containerID string) error
	// Results streams transitions until ctx ends. After AddContainer, the
	// first result of each probe is always sent.
	//
	// The first result of a probe comes when it first runs (after its
	// InitialDelay from StartedAt) and carries its state after the
	// thresholds, starting from the kubelet's initial states: readiness
	// and startup failed, liveness succeeded. Readiness and liveness only
	// run once the startup probe, if any, has succeeded. No result of a
	// container is sent once RemoveContainer returned.
	//
	// The channel is closed when ctx ends. Over the wire it is also closed
	// when the plugin goes away: the core calls Results again once the
	// plugin is back.
	Results(ctx context.Context) (<-chan Result, error)
}

// HostSetter is implemented by a probes plugin that runs exec probes: the
// SDK hands it the Host before any AddContainer. It is not called when the
// core offers no Host; such a plugin should reject exec probes with an
// error wrapping base.ErrUnsupported.
type HostSetter interface {
	SetHost(h Host)
}

// ErrInvalidProbe: a probe with no action or more than one.
var ErrInvalidProbe = base.NewError("probes.InvalidProbe", codes.InvalidArgument, "invalid probe")
