// Package volumes is the contract of a skiff volumes plugin
// (skiff.volumes.v1): it makes the directories a pod's volumes live in and
// removes them with the pod.
//
// The agent resolves what a volume needs from the API (the keys of a
// ConfigMap or Secret) and hands the plugin the data; the plugin never talks
// to the API. Prepare is idempotent and is called again when the data
// changes, so the plugin can update files in place (atomically).
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
}

// Volume is one of a pod's volumes. Exactly one source is set.
type Volume struct {
	Name     string
	EmptyDir *EmptyDir
	Files    *Files
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
	// Teardown removes every volume of the pod, leaving no mount or
	// directory. Unknown pods are not an error.
	Teardown(ctx context.Context, podUID string) error
}

// ErrInvalidPath: an item path that is absolute, contains "..", or would
// leave the volume.
var ErrInvalidPath = base.NewError("volumes.InvalidPath", codes.InvalidArgument, "invalid volume path")
