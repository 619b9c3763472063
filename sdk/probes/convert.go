package probes

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/skiffhq/skiff/sdk/probes/probespb"
)

// Conversions between the contract's types and probespb, used only by the
// shims: protobuf never leaves this package.

var kindsToProto = map[Kind]probespb.ProbeKind{
	Startup:   probespb.ProbeKind_PROBE_KIND_STARTUP,
	Readiness: probespb.ProbeKind_PROBE_KIND_READINESS,
	Liveness:  probespb.ProbeKind_PROBE_KIND_LIVENESS,
}

func kindToProto(k Kind) probespb.ProbeKind {
	return kindsToProto[k] // unknown kinds are UNSPECIFIED
}

func kindFromProto(k probespb.ProbeKind) Kind {
	for kind, pk := range kindsToProto {
		if pk == k {
			return kind
		}
	}
	return ""
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromProto(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func probeToProto(p *Probe) *probespb.Probe {
	if p == nil {
		return nil
	}
	out := &probespb.Probe{
		Exec:             p.Exec,
		InitialDelay:     durationpb.New(p.InitialDelay),
		Period:           durationpb.New(p.Period),
		Timeout:          durationpb.New(p.Timeout),
		SuccessThreshold: int32(p.SuccessThreshold),
		FailureThreshold: int32(p.FailureThreshold),
	}
	if h := p.HTTPGet; h != nil {
		out.HttpGet = &probespb.HTTPGet{Scheme: h.Scheme, Host: h.Host, Port: int32(h.Port), Path: h.Path, Headers: h.Headers}
	}
	if s := p.TCPSocket; s != nil {
		out.TcpSocket = &probespb.TCPSocket{Host: s.Host, Port: int32(s.Port)}
	}
	if g := p.GRPC; g != nil {
		out.Grpc = &probespb.GRPC{Port: int32(g.Port), Service: g.Service}
	}
	return out
}

func probeFromProto(p *probespb.Probe) *Probe {
	if p == nil {
		return nil
	}
	out := &Probe{
		Exec:             p.GetExec(),
		InitialDelay:     p.GetInitialDelay().AsDuration(),
		Period:           p.GetPeriod().AsDuration(),
		Timeout:          p.GetTimeout().AsDuration(),
		SuccessThreshold: int(p.GetSuccessThreshold()),
		FailureThreshold: int(p.GetFailureThreshold()),
	}
	if h := p.GetHttpGet(); h != nil {
		out.HTTPGet = &HTTPGet{Scheme: h.GetScheme(), Host: h.GetHost(), Port: int(h.GetPort()), Path: h.GetPath(), Headers: h.GetHeaders()}
	}
	if s := p.GetTcpSocket(); s != nil {
		out.TCPSocket = &TCPSocket{Host: s.GetHost(), Port: int(s.GetPort())}
	}
	if g := p.GetGrpc(); g != nil {
		out.GRPC = &GRPC{Port: int(g.GetPort()), Service: g.GetService()}
	}
	return out
}

func containerToProto(c Container) *probespb.Container {
	return &probespb.Container{
		PodUid:        c.PodUID,
		ContainerName: c.ContainerName,
		ContainerId:   c.ContainerID,
		PodIp:         c.PodIP,
		StartedAt:     timeToProto(c.StartedAt),
		Startup:       probeToProto(c.Startup),
		Readiness:     probeToProto(c.Readiness),
		Liveness:      probeToProto(c.Liveness),
	}
}

func containerFromProto(c *probespb.Container) Container {
	return Container{
		PodUID:        c.GetPodUid(),
		ContainerName: c.GetContainerName(),
		ContainerID:   c.GetContainerId(),
		PodIP:         c.GetPodIp(),
		StartedAt:     timeFromProto(c.GetStartedAt()),
		Startup:       probeFromProto(c.GetStartup()),
		Readiness:     probeFromProto(c.GetReadiness()),
		Liveness:      probeFromProto(c.GetLiveness()),
	}
}

func resultToProto(r Result) *probespb.Result {
	return &probespb.Result{
		ContainerId: r.ContainerID,
		Probe:       kindToProto(r.Probe),
		Success:     r.Success,
		Message:     r.Message,
		At:          timeToProto(r.At),
	}
}

func resultFromProto(r *probespb.Result) Result {
	return Result{
		ContainerID: r.GetContainerId(),
		Probe:       kindFromProto(r.GetProbe()),
		Success:     r.GetSuccess(),
		Message:     r.GetMessage(),
		At:          timeFromProto(r.GetAt()),
	}
}
