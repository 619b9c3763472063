package containerdruntime

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
)

// labelPrefix marks the plugin's own labels on containerd objects.
const labelPrefix = "skiff.runtime."

const (
	labelKind = labelPrefix + "kind" // kindSandbox or kindContainer

	labelPodUID       = labelPrefix + "pod-uid"
	labelPodNamespace = labelPrefix + "pod-namespace"
	labelPodName      = labelPrefix + "pod-name"
	labelHostname     = labelPrefix + "hostname"
	labelNetNS        = labelPrefix + "netns"

	labelSandboxID  = labelPrefix + "sandbox-id"
	labelName       = labelPrefix + "name"
	labelImage      = labelPrefix + "image"
	labelImageID    = labelPrefix + "image-id"
	labelLogPath    = labelPrefix + "log-path"
	labelTTY        = labelPrefix + "tty"
	labelStartedAt  = labelPrefix + "started-at"
	labelExitCode   = labelPrefix + "exit-code"
	labelFinishedAt = labelPrefix + "finished-at"
	labelReason     = labelPrefix + "reason"
	labelMessage    = labelPrefix + "message"
)

const (
	kindSandbox   = "sandbox"
	kindContainer = "container"
)

// kindFilter is a containerd filter selecting one kind of object.
func kindFilter(kind string) string {
	return fmt.Sprintf("labels.%q==%s", labelKind, kind)
}

// labelsFilter is the part of a containerd filter that selects the
// objects carrying every label of want: "" or ",labels.\"k\"==\"v\"...".
func labelsFilter(want map[string]string) string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, ",labels.%q==%q", k, want[k])
	}
	return b.String()
}

// checkUserLabels refuses labels that would collide with the plugin's own.
func checkUserLabels(labels map[string]string) error {
	for k := range labels {
		if strings.HasPrefix(k, labelPrefix) {
			return fmt.Errorf("label %q: the prefix %q is reserved for the runtime: %w", k, labelPrefix, base.ErrInvalid)
		}
	}
	return nil
}

// withLabels returns the caller's labels plus the plugin's.
func withLabels(user, own map[string]string) map[string]string {
	out := make(map[string]string, len(user)+len(own))
	for k, v := range user {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// userLabels returns the labels the caller gave, without the plugin's.
func userLabels(all map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range all {
		if !strings.HasPrefix(k, labelPrefix) {
			out[k] = v
		}
	}
	return out
}

// matchLabels reports whether have includes every label of want.
func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime reads a time label; a missing or bad one is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
