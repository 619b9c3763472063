package describe

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ConfigMap describes a config map in kubectl's layout: every value in
// full, binary values by size, then the events.
func ConfigMap(cm *corev1.ConfigMap, evs []corev1.Event, now time.Time) string {
	var b strings.Builder
	b.WriteString(tabbed(func(w prefixWriter) {
		w.write(level0, "Name:\t%s\n", cm.Name)
		w.write(level0, "Namespace:\t%s\n", cm.Namespace)
		labels(w, "Labels", cm.Labels)
		annotations(w, "Annotations", cm.Annotations)
	}))
	// Values are printed as they are, outside the tab writer, so that
	// tabs in them (a config file) survive.
	b.WriteString("\nData\n====\n")
	for _, k := range sortedKeys(cm.Data, "") {
		b.WriteString(k + ":\n----\n" + cm.Data[k] + "\n")
	}
	b.WriteString("\nBinaryData\n====\n")
	keys := make([]string, 0, len(cm.BinaryData))
	for k := range cm.BinaryData {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(tabbed(func(w prefixWriter) {
		for _, k := range keys {
			w.write(level0, "%s:\t%d bytes\n", k, len(cm.BinaryData[k]))
		}
		w.write(level0, "\n")
		events(w, evs, now)
	}))
	return b.String()
}

// Secret describes a secret in kubectl's layout: its values are never
// shown, only their sizes.
func Secret(s *corev1.Secret) string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return tabbed(func(w prefixWriter) {
		w.write(level0, "Name:\t%s\n", s.Name)
		w.write(level0, "Namespace:\t%s\n", s.Namespace)
		labels(w, "Labels", s.Labels)
		annotations(w, "Annotations", s.Annotations)
		w.write(level0, "\nType:\t%s\n", s.Type)
		w.write(level0, "\nData\n====\n")
		for _, k := range keys {
			w.write(level0, "%s:\t%d bytes\n", k, len(s.Data[k]))
		}
	})
}
