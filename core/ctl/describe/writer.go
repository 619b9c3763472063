// Package describe renders `skiffctl describe` output in kubectl's layout.
package describe

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Indentation levels, two spaces each.
const (
	level0 = iota
	level1
	level2
	level3
)

// prefixWriter writes indented, tab-aligned lines like kubectl's describer.
type prefixWriter struct{ out io.Writer }

func (w prefixWriter) write(level int, format string, a ...any) {
	fmt.Fprintf(w.out, strings.Repeat("  ", level)+format, a...)
}

// line ends a line started by write.
func (w prefixWriter) line(s string) { fmt.Fprintln(w.out, s) }

// tabbed runs f over a tabwriter set as kubectl's describe sets it and
// returns the aligned text.
func tabbed(f func(w prefixWriter)) string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	f(prefixWriter{out: tw})
	tw.Flush()
	return buf.String()
}

// lastAppliedAnnotation is left out of describe output, as kubectl does.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// maxAnnotationLen is where kubectl folds an annotation onto its own lines.
const maxAnnotationLen = 140

func sortedKeys(m map[string]string, skip string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != skip {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// labels prints "Title:  k=v" lines, one per label, aligned under the first.
func labels(w prefixWriter, title string, m map[string]string) {
	w.write(level0, "%s:\t", title)
	keys := sortedKeys(m, "")
	if len(keys) == 0 {
		w.line("<none>")
		return
	}
	for i, k := range keys {
		if i != 0 {
			w.write(level0, "\t")
		}
		w.write(level0, "%s=%s\n", k, m[k])
	}
}

// annotations prints annotations like kubectl: "k: v", long or multi-line
// values folded below their key.
func annotations(w prefixWriter, title string, m map[string]string) {
	w.write(level0, "%s:\t", title)
	keys := sortedKeys(m, lastAppliedAnnotation)
	if len(keys) == 0 {
		w.line("<none>")
		return
	}
	for i, k := range keys {
		if i != 0 {
			w.write(level0, "\t")
		}
		v := strings.TrimSuffix(m[k], "\n")
		if len(v)+len(k)+2 > maxAnnotationLen || strings.Contains(v, "\n") {
			w.write(level0, "%s:\n", k)
			for _, s := range strings.Split(v, "\n") {
				w.write(level0, "\t  %s\n", shorten(s, maxAnnotationLen-2))
			}
			continue
		}
		w.write(level0, "%s: %s\n", k, v)
	}
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func since(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func microSince(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func rfc1123z(t metav1.Time) string { return t.Time.Format(time.RFC1123Z) }

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func printBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// events prints the Events table of a describe, oldest first, with repeats
// shown as "(xN over M)". A nil list (events could not be read, or were
// not asked for) prints nothing.
func events(w prefixWriter, list []corev1.Event, now time.Time) {
	if list == nil {
		return
	}
	if len(list) == 0 {
		w.write(level0, "Events:\t<none>\n")
		return
	}
	sorted := append([]corev1.Event(nil), list...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].LastTimestamp.Time.Before(sorted[j].LastTimestamp.Time)
	})
	w.write(level0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
	w.write(level1, "----\t------\t----\t----\t-------\n")
	for i := range sorted {
		e := &sorted[i]
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		msg := strings.TrimSpace(e.Message)
		if e.InvolvedObject.FieldPath != "" {
			msg = e.InvolvedObject.FieldPath + ": " + msg
		}
		w.write(level1, "%v\t%v\t%s\t%v\t%v\n", e.Type, e.Reason, eventInterval(e, now), source, msg)
	}
}

func eventInterval(e *corev1.Event, now time.Time) string {
	first := microSince(e.EventTime, now)
	if e.EventTime.IsZero() {
		first = since(e.FirstTimestamp, now)
	}
	switch {
	case e.Series != nil:
		return fmt.Sprintf("%s (x%d over %s)", microSince(e.Series.LastObservedTime, now), e.Series.Count, first)
	case e.Count > 1:
		return fmt.Sprintf("%s (x%d over %s)", since(e.LastTimestamp, now), e.Count, first)
	}
	return first
}

// EventsFor picks the events about one object out of a namespace's events
// (never nil, so the Events section shows even when empty).
func EventsFor(all []corev1.Event, kind, namespace, name string, uid string) []corev1.Event {
	out := []corev1.Event{}
	for _, e := range all {
		ref := e.InvolvedObject
		if ref.Name != name || ref.Namespace != namespace {
			continue
		}
		if ref.Kind != "" && ref.Kind != kind {
			continue
		}
		if uid != "" && ref.UID != "" && string(ref.UID) != uid && string(ref.UID) != name {
			continue
		}
		out = append(out, e)
	}
	return out
}
