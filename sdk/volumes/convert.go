package volumes

import (
	"os"

	"github.com/skiffhq/skiff/sdk/volumes/volumespb"
)

// Conversions between the contract's types and volumespb, used only by the
// shims: protobuf never leaves this package.

func podToProto(p Pod) *volumespb.Pod {
	out := &volumespb.Pod{Namespace: p.Namespace, Name: p.Name, Uid: p.UID}
	for _, v := range p.Volumes {
		out.Volumes = append(out.Volumes, volumeToProto(v))
	}
	return out
}

func podFromProto(p *volumespb.Pod) Pod {
	out := Pod{Namespace: p.GetNamespace(), Name: p.GetName(), UID: p.GetUid()}
	for _, v := range p.GetVolumes() {
		out.Volumes = append(out.Volumes, volumeFromProto(v))
	}
	return out
}

func volumeToProto(v Volume) *volumespb.Volume {
	out := &volumespb.Volume{Name: v.Name}
	if e := v.EmptyDir; e != nil {
		out.EmptyDir = &volumespb.EmptyDir{Medium: e.Medium, SizeLimitBytes: e.SizeLimitBytes}
	}
	if f := v.Files; f != nil {
		out.Files = &volumespb.Files{Data: f.Data, DefaultMode: uint32(f.DefaultMode), Sensitive: f.Sensitive, Keep: f.Keep}
		for _, it := range f.Items {
			out.Files.Items = append(out.Files.Items, &volumespb.KeyToPath{Key: it.Key, Path: it.Path, Mode: uint32(it.Mode)})
		}
	}
	if h := v.HostPath; h != nil {
		out.HostPath = &volumespb.HostPath{Path: h.Path, Type: h.Type}
	}
	return out
}

func volumeFromProto(v *volumespb.Volume) Volume {
	out := Volume{Name: v.GetName()}
	if e := v.GetEmptyDir(); e != nil {
		out.EmptyDir = &EmptyDir{Medium: e.GetMedium(), SizeLimitBytes: e.GetSizeLimitBytes()}
	}
	if f := v.GetFiles(); f != nil {
		out.Files = &Files{Data: f.GetData(), DefaultMode: os.FileMode(f.GetDefaultMode()), Sensitive: f.GetSensitive(), Keep: f.GetKeep()}
		for _, it := range f.GetItems() {
			out.Files.Items = append(out.Files.Items, KeyToPath{Key: it.GetKey(), Path: it.GetPath(), Mode: os.FileMode(it.GetMode())})
		}
	}
	if h := v.GetHostPath(); h != nil {
		out.HostPath = &HostPath{Path: h.GetPath(), Type: h.GetType()}
	}
	return out
}

func subPathToProto(sp SubPath) *volumespb.SubPath {
	return &volumespb.SubPath{PodUid: sp.PodUID, Volume: sp.Volume, HostPath: sp.HostPath, Path: sp.Path,
		Container: sp.Container, Index: int32(sp.Index)}
}

func subPathFromProto(sp *volumespb.SubPath) SubPath {
	return SubPath{PodUID: sp.GetPodUid(), Volume: sp.GetVolume(), HostPath: sp.GetHostPath(), Path: sp.GetPath(),
		Container: sp.GetContainer(), Index: int(sp.GetIndex())}
}

func mountedToProto(ms []Mounted) []*volumespb.Mounted {
	out := make([]*volumespb.Mounted, 0, len(ms))
	for _, m := range ms {
		out = append(out, &volumespb.Mounted{Name: m.Name, HostPath: m.HostPath})
	}
	return out
}

func mountedFromProto(ms []*volumespb.Mounted) []Mounted {
	out := make([]Mounted, 0, len(ms))
	for _, m := range ms {
		out = append(out, Mounted{Name: m.GetName(), HostPath: m.GetHostPath()})
	}
	return out
}
