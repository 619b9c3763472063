package runtime

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/skiffhq/skiff/sdk/runtime/runtimepb"
)

// Conversions between the contract's Go types and their protobuf form. They
// are used only by the shims: protobuf never leaves this package.

// timeToPB keeps the zero time as "unset" so it comes back as the zero time.
func timeToPB(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func timeFromPB(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func durationToPB(d time.Duration) *durationpb.Duration {
	return durationpb.New(d)
}

func durationFromPB(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

func imageToPB(img Image) *runtimepb.Image {
	return &runtimepb.Image{Ref: img.Ref, Id: img.ID, RepoDigest: img.RepoDigest, Size: img.Size}
}

func imageFromPB(img *runtimepb.Image) Image {
	if img == nil {
		return Image{}
	}
	return Image{Ref: img.Ref, ID: img.Id, RepoDigest: img.RepoDigest, Size: img.Size}
}

func imagesToPB(imgs []Image) []*runtimepb.Image {
	out := make([]*runtimepb.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, imageToPB(img))
	}
	return out
}

func imagesFromPB(imgs []*runtimepb.Image) []Image {
	out := make([]Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, imageFromPB(img))
	}
	return out
}

func sandboxConfigToPB(c SandboxConfig) *runtimepb.SandboxConfig {
	return &runtimepb.SandboxConfig{
		PodUid:    c.PodUID,
		Namespace: c.Namespace,
		Name:      c.Name,
		Hostname:  c.Hostname,
		NetnsPath: c.NetNSPath,
		Labels:    c.Labels,
	}
}

func sandboxConfigFromPB(c *runtimepb.SandboxConfig) SandboxConfig {
	if c == nil {
		return SandboxConfig{}
	}
	return SandboxConfig{
		PodUID:    c.PodUid,
		Namespace: c.Namespace,
		Name:      c.Name,
		Hostname:  c.Hostname,
		NetNSPath: c.NetnsPath,
		Labels:    c.Labels,
	}
}

func sandboxToPB(s Sandbox) *runtimepb.Sandbox {
	return &runtimepb.Sandbox{
		Id:        s.ID,
		PodUid:    s.PodUID,
		Namespace: s.Namespace,
		Name:      s.Name,
		NetnsPath: s.NetNSPath,
		Labels:    s.Labels,
		CreatedAt: timeToPB(s.CreatedAt),
	}
}

func sandboxFromPB(s *runtimepb.Sandbox) Sandbox {
	return Sandbox{
		ID:        s.GetId(),
		PodUID:    s.GetPodUid(),
		Namespace: s.GetNamespace(),
		Name:      s.GetName(),
		NetNSPath: s.GetNetnsPath(),
		Labels:    s.GetLabels(),
		CreatedAt: timeFromPB(s.GetCreatedAt()),
	}
}

func containerConfigToPB(c ContainerConfig) *runtimepb.ContainerConfig {
	out := &runtimepb.ContainerConfig{
		Name:       c.Name,
		Image:      c.Image,
		Command:    c.Command,
		Args:       c.Args,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		Labels:     c.Labels,
		LogPath:    c.LogPath,
		Resources: &runtimepb.ContainerResources{
			CpuShares:        c.Resources.CPUShares,
			CpuQuota:         c.Resources.CPUQuota,
			CpuPeriod:        c.Resources.CPUPeriod,
			MemoryLimitBytes: c.Resources.MemoryLimitBytes,
		},
		Security: securityToPB(c.Security),
		Tty:      c.TTY,
		Stdin:    c.Stdin,
	}
	for _, m := range c.Mounts {
		out.Mounts = append(out.Mounts, &runtimepb.Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	return out
}

func containerConfigFromPB(c *runtimepb.ContainerConfig) ContainerConfig {
	if c == nil {
		return ContainerConfig{}
	}
	out := ContainerConfig{
		Name:       c.Name,
		Image:      c.Image,
		Command:    c.Command,
		Args:       c.Args,
		Env:        c.Env,
		WorkingDir: c.WorkingDir,
		Labels:     c.Labels,
		LogPath:    c.LogPath,
		Resources: ContainerResources{
			CPUShares:        c.GetResources().GetCpuShares(),
			CPUQuota:         c.GetResources().GetCpuQuota(),
			CPUPeriod:        c.GetResources().GetCpuPeriod(),
			MemoryLimitBytes: c.GetResources().GetMemoryLimitBytes(),
		},
		Security: securityFromPB(c.Security),
		TTY:      c.Tty,
		Stdin:    c.Stdin,
	}
	for _, m := range c.Mounts {
		out.Mounts = append(out.Mounts, Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	return out
}

func securityToPB(s SecurityConfig) *runtimepb.SecurityConfig {
	return &runtimepb.SecurityConfig{
		RunAsUser:       s.RunAsUser,
		RunAsGroup:      s.RunAsGroup,
		RunAsNonRoot:    s.RunAsNonRoot,
		ReadOnlyRootfs:  s.ReadOnlyRootfs,
		CapAdd:          s.CapAdd,
		CapDrop:         s.CapDrop,
		NoNewPrivileges: s.NoNewPrivileges,
		Privileged:      s.Privileged,
	}
}

func securityFromPB(s *runtimepb.SecurityConfig) SecurityConfig {
	if s == nil {
		return SecurityConfig{}
	}
	return SecurityConfig{
		RunAsUser:       s.RunAsUser,
		RunAsGroup:      s.RunAsGroup,
		RunAsNonRoot:    s.RunAsNonRoot,
		ReadOnlyRootfs:  s.ReadOnlyRootfs,
		CapAdd:          s.CapAdd,
		CapDrop:         s.CapDrop,
		NoNewPrivileges: s.NoNewPrivileges,
		Privileged:      s.Privileged,
	}
}

var stateToPB = map[ContainerState]runtimepb.ContainerState{
	StateUnknown: runtimepb.ContainerState_CONTAINER_STATE_UNKNOWN,
	StateCreated: runtimepb.ContainerState_CONTAINER_STATE_CREATED,
	StateRunning: runtimepb.ContainerState_CONTAINER_STATE_RUNNING,
	StateExited:  runtimepb.ContainerState_CONTAINER_STATE_EXITED,
}

func stateFromPB(s runtimepb.ContainerState) ContainerState {
	for k, v := range stateToPB {
		if v == s {
			return k
		}
	}
	return StateUnknown
}

func containerStatusToPB(s ContainerStatus) *runtimepb.ContainerStatus {
	return &runtimepb.ContainerStatus{
		Id:         s.ID,
		SandboxId:  s.SandboxID,
		Name:       s.Name,
		Image:      s.Image,
		ImageId:    s.ImageID,
		Labels:     s.Labels,
		State:      stateToPB[s.State],
		Pid:        int64(s.PID),
		CreatedAt:  timeToPB(s.CreatedAt),
		StartedAt:  timeToPB(s.StartedAt),
		FinishedAt: timeToPB(s.FinishedAt),
		ExitCode:   int32(s.ExitCode),
		Reason:     s.Reason,
		Message:    s.Message,
		LogPath:    s.LogPath,
	}
}

func containerStatusFromPB(s *runtimepb.ContainerStatus) ContainerStatus {
	return ContainerStatus{
		ID:         s.GetId(),
		SandboxID:  s.GetSandboxId(),
		Name:       s.GetName(),
		Image:      s.GetImage(),
		ImageID:    s.GetImageId(),
		Labels:     s.GetLabels(),
		State:      stateFromPB(s.GetState()),
		PID:        int(s.GetPid()),
		CreatedAt:  timeFromPB(s.GetCreatedAt()),
		StartedAt:  timeFromPB(s.GetStartedAt()),
		FinishedAt: timeFromPB(s.GetFinishedAt()),
		ExitCode:   int(s.GetExitCode()),
		Reason:     s.GetReason(),
		Message:    s.GetMessage(),
		LogPath:    s.GetLogPath(),
	}
}
