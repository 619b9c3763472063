package containerdruntime

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/pkg/cap"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// runAsRootError is a refusal under RunAsNonRoot, worded as kubelet words
// it (the agent shows it as the container's waiting message).
type runAsRootError struct{ msg string }

func (e *runAsRootError) Error() string { return e.msg }
func (e *runAsRootError) Unwrap() error { return runtime.ErrRunAsRoot }

// checkRunAsNonRoot refuses, under RunAsNonRoot, a container whose user is
// root or cannot be known not to be: RunAsUser 0, an image USER that is
// empty, 0 or "root", or a user name (which only the image's /etc/passwd
// could resolve, and which kubelet refuses too).
func checkRunAsNonRoot(sec runtime.SecurityConfig, imageUser string) error {
	if !sec.RunAsNonRoot {
		return nil
	}
	if sec.RunAsUser != nil {
		if *sec.RunAsUser == 0 {
			return &runAsRootError{"container's runAsUser breaks non-root policy (runAsUser is 0)"}
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" || user == "root" {
		return &runAsRootError{runtime.ErrRunAsRoot.Error()}
	}
	uid, err := strconv.ParseUint(user, 10, 32)
	if err != nil {
		return &runAsRootError{fmt.Sprintf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", user)}
	}
	if uid == 0 {
		return &runAsRootError{runtime.ErrRunAsRoot.Error()}
	}
	return nil
}

// securityOpts turns a securityContext into spec options, applied after
// the image's config (whose USER they override).
func securityOpts(sec runtime.SecurityConfig, imageUser string) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	user, err := userString(sec, imageUser)
	if err != nil {
		return nil, err
	}
	if user != "" {
		name, _, _ := strings.Cut(user, ":")
		// WithUser resolves names (and a lone uid's group) in the image's
		// /etc/passwd; the supplementary groups are the user's in
		// /etc/group, as for the image's own USER.
		opts = append(opts, oci.WithUser(user), oci.WithAdditionalGIDs(name))
	}
	if sec.Privileged {
		// Every capability the runtime has, every host device, no masked
		// paths, writable /sys: capability adjustments do not apply, as
		// with kubelet.
		opts = append(opts, oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed)
	} else {
		capOpts, err := capabilityOpts(sec.CapAdd, sec.CapDrop)
		if err != nil {
			return nil, err
		}
		opts = append(opts, capOpts...)
	}
	if sec.ReadOnlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	// containerd's default spec sets no_new_privs; Kubernetes' default
	// (allowPrivilegeEscalation unset) is without it.
	if sec.NoNewPrivileges {
		opts = append(opts, oci.WithNoNewPrivileges)
	} else {
		opts = append(opts, oci.WithNewPrivileges)
	}
	return opts, nil
}

// userString is the "user[:group]" to run as when RunAsUser or RunAsGroup
// override the image's USER, or "" when they do not. A group without a user
// keeps the image's user (root when it has none).
func userString(sec runtime.SecurityConfig, imageUser string) (string, error) {
	if sec.RunAsUser == nil && sec.RunAsGroup == nil {
		return "", nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		user = "0"
	}
	if sec.RunAsUser != nil {
		if *sec.RunAsUser < 0 || *sec.RunAsUser > math.MaxInt32 {
			return "", fmt.Errorf("runAsUser %d: out of range: %w", *sec.RunAsUser, base.ErrInvalid)
		}
		user = strconv.FormatInt(*sec.RunAsUser, 10)
	}
	if sec.RunAsGroup != nil {
		if *sec.RunAsGroup < 0 || *sec.RunAsGroup > math.MaxInt32 {
			return "", fmt.Errorf("runAsGroup %d: out of range: %w", *sec.RunAsGroup, base.ErrInvalid)
		}
		return user + ":" + strconv.FormatInt(*sec.RunAsGroup, 10), nil
	}
	return user, nil
}

// capabilityOpts applies CapAdd and CapDrop to the default set the way
// containerd's CRI plugin does: "ALL" in CapAdd takes every capability the
// runtime has, then "ALL" in CapDrop empties the set, then the named ones
// are added and dropped.
func capabilityOpts(add, drop []string) ([]oci.SpecOpts, error) {
	addCaps, addAll, err := normalizeCaps(add)
	if err != nil {
		return nil, fmt.Errorf("capabilities to add: %w", err)
	}
	dropCaps, dropAll, err := normalizeCaps(drop)
	if err != nil {
		return nil, fmt.Errorf("capabilities to drop: %w", err)
	}
	var opts []oci.SpecOpts
	if addAll {
		opts = append(opts, oci.WithAllCurrentCapabilities)
	}
	if dropAll {
		opts = append(opts, oci.WithCapabilities(nil))
	}
	if len(addCaps) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(addCaps))
	}
	if len(dropCaps) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(dropCaps))
	}
	return opts, nil
}

// normalizeCaps turns "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" into
// "CAP_NET_ADMIN", refuses unknown names, and reports "ALL" apart.
func normalizeCaps(names []string) (caps []string, all bool, err error) {
	known := cap.Known()
	for _, n := range names {
		c := strings.ToUpper(strings.TrimSpace(n))
		if c == "ALL" {
			all = true
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(known, c) {
			return nil, false, fmt.Errorf("unknown capability %q: %w", n, base.ErrInvalid)
		}
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps, all, nil
}
