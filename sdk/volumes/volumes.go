// Package volumes is the contract of a skiff volumes plugin
// (skiff.volumes.v1): it makes the directories a pod's volumes live in and
// removes them with the pod.
//
// The agent resolves what a volume needs from the API (the keys of a
// ConfigMap or Secret) and hands the plugin the data; the plugin never talks
// to the API. Prepare is idempotent and is called on every sync of the pod
// (about once a second), so the plugin updates files in place (atomically)
// when the data changed and should make an unchanged call cheap. When the
// agent could not read an object, it asks the plugin to keep the volume as
// it is (Files.Keep).
//
// Containers bind-mount what Prepare returns; a subPath mount binds what
// PrepareSubPath resolved instead. Every path that comes from a manifest
// (item paths, subPath, host paths) was checked by the API server, and the
// plugin checks it again: ErrInvalidPath.
//
// API version 1 gained HostPath, Files.Keep and PrepareSubPath before its
// first release; a plugin without PrepareSubPath answers base.ErrUnsupported
// (gRPC Unimplemented) and pods with subPath mounts fail to start on it.
package volumes

import (
	"context"
	"os"

	"google.golang.org/grpc/codes"

	"github.com/skiffhq/skiff/sdk/base"
)

// APIVersion is the newest version of this contract the SDK speaks.
const APIVersion = 1

// EmptyDir is a scratch directory that lives as long as the pod.
type EmptyDir struct {
	// Medium is "" (node disk) or "Memory" (tmpfs).
	Medium         string
	SizeLimitBytes int64
}

// KeyToPath projects one key to a relative path in the volume.
type KeyToPath struct {
	Key  string
	Path string
	// Mode is the file mode; 0 means the volume's DefaultMode. Only
	// permission bits (0 to 0777) are allowed.
	Mode os.FileMode
}

// Files is a configMap or secret volume: the data is resolved by the agent.
type Files struct {
	// Data maps keys to contents.
	Data map[string][]byte
	// Items, when set, selects keys and their paths; otherwise every key
	// becomes a file of its own name.
	Items []KeyToPath
	// DefaultMode is the mode of files without one; 0 means 0644, as in
	// Kubernetes.
	DefaultMode os.FileMode
	// Sensitive data (secrets) is only ever written to tmpfs.
	Sensitive bool
	// Keep says the agent could not read the object this time (it was
	// deleted, a key went missing, the API server is unreachable): the
	// plugin leaves what the volume holds as it is and ignores Data and
	// Items, so running containers keep their last good files, as in
	// Kubernetes. A volume never written before fails with
	// base.ErrNotFound.
	Keep bool
}

// HostPath is a file or directory of the node itself. The agent only asks
// for one when the node allows hostPath volumes; the plugin checks Type
// (Kubernetes' HostPathType) and creates what the *OrCreate types ask for.
// The plugin never removes a host path.
type HostPath struct {
	// Path is absolute and has no ".." elements.
	Path string
	// Type is "" (no check), DirectoryOrCreate, Directory, FileOrCreate,
	// File, Socket, CharDevice or BlockDevice.
	Type string
}

// Volume is one of a pod's volumes. Exactly one source is set.
type Volume struct {
	Name     string
	EmptyDir *EmptyDir
	Files    *Files
	HostPath *HostPath
}

// Pod names a pod and lists its volumes.
type Pod struct {
	Namespace string
	Name      string
	UID       string
	Volumes   []Volume
}

// Mounted is a volume ready to bind into containers.
type Mounted struct {
	Name     string
	HostPath string
}

// SubPath asks for one subPath mount: a directory or file inside a
// prepared volume that one container mounts instead of the whole volume.
type SubPath struct {
	PodUID string
	// Volume is the volume's name and HostPath where Prepare put it.
	Volume   string
	HostPath string
	// Path is the subPath, relative to the volume, without ".." elements.
	Path string
	// Container and Index (the mount's index in the container's
	// volumeMounts) name the mount; together they make its host path.
	Container string
	Index     int
}

// Volumes is implemented by a volumes plugin.
type Volumes interface {
	base.Plugin

	// Prepare makes (or updates) every volume of the pod and returns where
	// each is on the host, in the order given.
	//
	// A volume's HostPath does not change when Prepare is called again, so
	// containers that bind-mounted it see updates. Item paths are checked
	// (ErrInvalidPath) before anything is written; files are visible with
	// their modes when followed through symlinks, as a container sees them.
	Prepare(ctx context.Context, pod Pod) ([]Mounted, error)
	// PrepareSubPath resolves a subPath inside a prepared volume and
	// returns a host path that stands for exactly what it resolved to,
	// for the runtime to bind into the container. The agent calls it
	// when it creates the container, so it sees what earlier containers
	// (init containers) left in the volume.
	//
	// The volume may hold symlinks planted by a container: resolution
	// must never leave the volume (a symlink that points outside it, or
	// ".." above its root, is ErrInvalidPath), and what is resolved must
	// be what is mounted, with no window for a rename or a new symlink to
	// swap it. skiff's plugin walks the path one element at a time with
	// O_NOFOLLOW, follows symlinks itself inside the volume, and bind-
	// mounts the opened file descriptor (/proc/self/fd/N) onto
	// <pod dir>/volume-subpaths/<volume>/<container>/<index>.
	//
	// A missing subPath is created as a directory, as the kubelet does,
	// except in Files volumes (configMap, secret), where it is
	// ErrNotFound. Called again for the same mount it returns the same
	// path without resolving again: like Kubernetes, a subPath mount does
	// not follow later changes (a configMap update). Teardown removes
	// these mounts with the pod.
	PrepareSubPath(ctx context.Context, sp SubPath) (string, error)
	// Teardown removes every volume of the pod, leaving no mount or
	// directory. Unknown pods are not an error.
	Teardown(ctx context.Context, podUID string) error
}

// ErrInvalidPath: an item path or subPath that is absolute, contains "..",
// or would leave the volume (also through a symlink).
var ErrInvalidPath = base.NewError("volumes.InvalidPath", codes.InvalidArgument, "invalid volume path")

// ErrHostPathType: a hostPath is not of the type the pod asked for (or is
// missing and the type does not create it).
var ErrHostPathType = base.NewError("volumes.HostPathType", codes.FailedPrecondition, "hostPath type check failed")
