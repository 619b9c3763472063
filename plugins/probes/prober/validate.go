package prober

import (
	"fmt"
	"strings"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/probes"
)

// Kubernetes' defaults, for fields left at zero.
const (
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = time.Second
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3
)

// spec is one probe of a container, checked and with defaults applied.
type spec struct {
	kind  probes.Kind
	probe probes.Probe
}

// specsOf checks a container's probes and returns them ready to run.
func specsOf(c probes.Container) ([]spec, error) {
	if c.ContainerID == "" {
		return nil, fmt.Errorf("container %q of pod %q: no container ID: %w", c.ContainerName, c.PodUID, base.ErrInvalid)
	}
	var specs []spec
	for _, kp := range []struct {
		kind  probes.Kind
		probe *probes.Probe
	}{{probes.Startup, c.Startup}, {probes.Readiness, c.Readiness}, {probes.Liveness, c.Liveness}} {
		if kp.probe == nil {
			continue
		}
		p, err := checkProbe(*kp.probe, c.PodIP)
		if err != nil {
			return nil, fmt.Errorf("container %q: %s probe: %w", c.ContainerID, kp.kind, err)
		}
		specs = append(specs, spec{kind: kp.kind, probe: p})
	}
	return specs, nil
}

func needsHost(specs []spec) bool {
	for _, s := range specs {
		if len(s.probe.Exec) > 0 {
			return true
		}
	}
	return false
}

// checkProbe returns p with defaults, or why it cannot run.
func checkProbe(p probes.Probe, podIP string) (probes.Probe, error) {
	if err := checkAction(p, podIP); err != nil {
		return p, err
	}
	if p.InitialDelay < 0 || p.Period < 0 || p.Timeout < 0 {
		return p, fmt.Errorf("negative duration: %w", probes.ErrInvalidProbe)
	}
	if p.SuccessThreshold < 0 || p.FailureThreshold < 0 {
		return p, fmt.Errorf("negative threshold: %w", probes.ErrInvalidProbe)
	}
	p.Period = orDefault(p.Period, defaultPeriod)
	p.Timeout = orDefault(p.Timeout, defaultTimeout)
	p.SuccessThreshold = orDefault(p.SuccessThreshold, defaultSuccessThreshold)
	p.FailureThreshold = orDefault(p.FailureThreshold, defaultFailureThreshold)
	return p, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func checkAction(p probes.Probe, podIP string) error {
	if n := countActions(p); n != 1 {
		if n == 0 {
			return fmt.Errorf("no action (exec, httpGet, tcpSocket or grpc): %w", probes.ErrInvalidProbe)
		}
		return fmt.Errorf("%d actions, want one: %w", n, probes.ErrInvalidProbe)
	}
	switch {
	case p.HTTPGet != nil:
		return checkHTTPGet(*p.HTTPGet, podIP)
	case p.TCPSocket != nil:
		return checkEndpoint("tcpSocket", p.TCPSocket.Host, p.TCPSocket.Port, podIP)
	case p.GRPC != nil:
		return checkEndpoint("grpc", "", p.GRPC.Port, podIP)
	}
	return nil
}

func countActions(p probes.Probe) int {
	n := 0
	for _, set := range []bool{len(p.Exec) > 0, p.HTTPGet != nil, p.TCPSocket != nil, p.GRPC != nil} {
		if set {
			n++
		}
	}
	return n
}

func checkHTTPGet(h probes.HTTPGet, podIP string) error {
	switch strings.ToUpper(h.Scheme) {
	case "", "HTTP", "HTTPS":
	default:
		return fmt.Errorf("httpGet: scheme %q: want HTTP or HTTPS: %w", h.Scheme, probes.ErrInvalidProbe)
	}
	return checkEndpoint("httpGet", h.Host, h.Port, podIP)
}

func checkEndpoint(action, host string, port int, podIP string) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("%s: port %d: out of range: %w", action, port, probes.ErrInvalidProbe)
	}
	if host == "" && podIP == "" {
		return fmt.Errorf("%s: no host and no pod IP: %w", action, probes.ErrInvalidProbe)
	}
	return nil
}
