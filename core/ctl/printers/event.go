package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// EventColumns are the columns of `get events`.
var EventColumns = []Column{
	{Name: "Last Seen"}, {Name: "Type"}, {Name: "Reason"}, {Name: "Object"},
	{Name: "Subobject", Wide: true}, {Name: "Source", Wide: true}, {Name: "Message"},
	{Name: "First Seen", Wide: true}, {Name: "Count", Wide: true}, {Name: "Name", Wide: true},
}

// MicroAge is Age for a MicroTime.
func MicroAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// EventFirstSeen is when an event was first seen (firstTimestamp, else eventTime).
func EventFirstSeen(e *corev1.Event, now time.Time) string {
	if e.FirstTimestamp.IsZero() {
		return MicroAge(e.EventTime, now)
	}
	return Age(e.FirstTimestamp, now)
}

// EventRow is the row of one event in `get events`.
func EventRow(e *corev1.Event, now time.Time) Row {
	first := EventFirstSeen(e, now)
	last := Age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = MicroAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return Row{Namespace: e.Namespace, Cells: []string{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		EventSource(e), strings.TrimSpace(e.Message), first, fmt.Sprint(count), e.Name,
	}}
}

// EventSource is "component, host", falling back to the reporting controller
// and instance of newer events.
func EventSource(e *corev1.Event) string {
	component := firstNonEmpty(e.Source.Component, e.ReportingController)
	instance := firstNonEmpty(e.Source.Host, e.ReportingInstance)
	if instance == "" {
		return component
	}
	return component + ", " + instance
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// EventTable is the `get events` table.
func EventTable(events []corev1.Event, now time.Time) Table {
	t := Table{Columns: EventColumns}
	for i := range events {
		t.Rows = append(t.Rows, EventRow(&events[i], now))
	}
	return t
}
