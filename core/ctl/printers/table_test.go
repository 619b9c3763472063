package printers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func render(t *testing.T, opts TableOptions, tables ...Table) string {
	t.Helper()
	var buf bytes.Buffer
	tw := NewTabWriter(&buf)
	p := &TablePrinter{Options: opts}
	for _, tb := range tables {
		if err := p.Print(tw, tb); err != nil {
			t.Fatal(err)
		}
	}
	tw.Flush()
	return buf.String()
}

func node(name string, age time.Duration, ready corev1.ConditionStatus, roles ...string) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: ago(age), Labels: map[string]string{}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.27.3"},
		},
	}
	for _, r := range roles {
		n.Labels["node-role.kubernetes.io/"+r] = ""
	}
	return n
}

// The book's `kubectl get nodes` output, byte for byte.
func TestNodeTableMatchesKubectl(t *testing.T) {
	nodes := []corev1.Node{
		node("kind-control-plane", 72*time.Second, corev1.ConditionTrue, "control-plane"),
		node("kind-worker", 47*time.Second, corev1.ConditionTrue),
		node("kind-worker2", 47*time.Second, corev1.ConditionTrue),
		node("kind-worker3", 47*time.Second, corev1.ConditionTrue),
	}
	got := render(t, TableOptions{}, NodeTable(nodes, now))
	want := `NAME                 STATUS   ROLES           AGE   VERSION
kind-control-plane   Ready    control-plane   72s   v1.27.3
kind-worker          Ready    <none>          47s   v1.27.3
kind-worker2         Ready    <none>          47s   v1.27.3
kind-worker3         Ready    <none>          47s   v1.27.3
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNodeStatusAndRoles(t *testing.T) {
	n := node("n", time.Hour, corev1.ConditionFalse, "worker", "control-plane")
	n.Labels["kubernetes.io/role"] = "edge"
	n.Spec.Unschedulable = true
	if got := NodeStatus(&n); got != "NotReady,SchedulingDisabled" {
		t.Errorf("status = %q", got)
	}
	if got := strings.Join(NodeRoles(&n), ","); got != "control-plane,edge,worker" {
		t.Errorf("roles = %q", got)
	}
	empty := corev1.Node{}
	if got := NodeStatus(&empty); got != "Unknown" {
		t.Errorf("status without conditions = %q", got)
	}
}

func TestNodeWide(t *testing.T) {
	n := node("n1", time.Hour, corev1.ConditionTrue)
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.2"}}
	n.Status.NodeInfo.OSImage = "Debian GNU/Linux 12"
	n.Status.NodeInfo.KernelVersion = "6.1.0"
	n.Status.NodeInfo.ContainerRuntimeVersion = "containerd://1.7.35"
	got := render(t, TableOptions{Wide: true}, NodeTable([]corev1.Node{n}, now))
	want := `NAME   STATUS   ROLES    AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE              KERNEL-VERSION   CONTAINER-RUNTIME
n1     Ready    <none>   60m   v1.27.3   10.0.0.2      <none>        Debian GNU/Linux 12   6.1.0            containerd://1.7.35
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// The book's `kubectl get pod` output, byte for byte.
func TestPodTableMatchesKubectl(t *testing.T) {
	pod := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-1", Namespace: "default", CreationTimestamp: ago(25 * time.Second)},
		Spec:       corev1.PodSpec{Containers: containers("nginx-1")},
		Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting("nginx-1", "ImagePullBackOff")}},
	}
	got := render(t, TableOptions{}, PodTable([]corev1.Pod{pod}, now))
	want := `NAME      READY   STATUS             RESTARTS   AGE
nginx-1   0/1     ImagePullBackOff   0          25s
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableOptions(t *testing.T) {
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", CreationTimestamp: ago(time.Minute)},
			Spec: corev1.PodSpec{Containers: containers("a")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "kube-system", CreationTimestamp: ago(2 * time.Minute)},
			Spec: corev1.PodSpec{Containers: containers("b")}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
	}
	tests := []struct {
		name string
		opts TableOptions
		want string
	}{
		{"namespace column", TableOptions{WithNamespace: true}, `NAMESPACE     NAME   READY   STATUS    RESTARTS   AGE
default       a      0/1     Pending   0          60s
kube-system   b      0/1     Pending   0          2m
`},
		{"no headers", TableOptions{NoHeaders: true}, `a     0/1   Pending   0     60s
b     0/1   Pending   0     2m
`},
		{"kind prefix", TableOptions{Kind: "Pod"}, `NAME    READY   STATUS    RESTARTS   AGE
pod/a   0/1     Pending   0          60s
pod/b   0/1     Pending   0          2m
`},
		{"wide", TableOptions{Wide: true}, `NAME   READY   STATUS    RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES
a      0/1     Pending   0          60s   <none>   <none>   <none>           <none>
b      0/1     Pending   0          2m    <none>   <none>   <none>           <none>
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(t, tt.opts, PodTable(pods, now)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestHeaderPrintedOnceAndNotForEmptyTables(t *testing.T) {
	empty := Table{Columns: PodColumns}
	one := PodTable([]corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(time.Second)},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}}, now)
	got := render(t, TableOptions{}, empty, one, one)
	if n := strings.Count(got, "NAME"); n != 1 {
		t.Errorf("header printed %d times:\n%s", n, got)
	}
	if got := render(t, TableOptions{}, empty); got != "" {
		t.Errorf("empty table printed %q", got)
	}
}

func TestCellsAreCutAtLineBreaks(t *testing.T) {
	ev := corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"},
		Type:           "Warning", Reason: "Failed", Message: "line one\nline two", Count: 1,
		LastTimestamp: ago(time.Minute), FirstTimestamp: ago(time.Minute),
	}
	got := render(t, TableOptions{}, EventTable([]corev1.Event{ev}, now))
	want := `LAST SEEN   TYPE      REASON   OBJECT    MESSAGE
60s         Warning   Failed   pod/web   line one...
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestEventRow(t *testing.T) {
	ev := corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "nginx.17a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "nginx", FieldPath: "spec.containers{nginx}"},
		Type:           "Normal", Reason: "Pulled", Message: " Successfully pulled ",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(time.Minute), Count: 3,
	}
	got := EventRow(&ev, now).Cells
	want := []string{"60s", "Normal", "Pulled", "pod/nginx", "spec.containers{nginx}", "kubelet, node-1", "Successfully pulled", "10m", "3", "nginx.17a"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("row = %q\nwant  %q", got, want)
	}
	// A new-style event: no timestamps but eventTime, no count.
	ev2 := corev1.Event{EventTime: metav1.NewMicroTime(now.Add(-5 * time.Second)), ReportingController: "skiff-scheduler",
		InvolvedObject: corev1.ObjectReference{Kind: "Node"}}
	got = EventRow(&ev2, now).Cells
	if got[0] != "5s" || got[3] != "node" || got[5] != "skiff-scheduler" || got[8] != "1" {
		t.Errorf("new-style event row = %q", got)
	}
}

func TestWatchWriterRemembersWidths(t *testing.T) {
	var buf, ref bytes.Buffer
	w := NewWatchWriter(&buf)
	first := "NAME\tREADY\tSTATUS\tRESTARTS\tAGE\nnginx\t0/1\tInit:0/1\t0\t0s\n"
	fmt.Fprint(w, first)
	w.Flush()
	// The first flush aligns exactly as text/tabwriter does.
	tw := NewTabWriter(&ref)
	fmt.Fprint(tw, first)
	tw.Flush()
	if buf.String() != ref.String() {
		t.Fatalf("first flush:\n%s\ntabwriter:\n%s", buf.String(), ref.String())
	}
	// Later rows keep the widths (no shrinking) and grow when needed.
	fmt.Fprint(w, "nginx\t1/1\tRunning\t0\t3s\n")
	w.Flush()
	fmt.Fprint(w, "nginx\t0/1\tPodInitializing\t0\t1s\n")
	w.Flush()
	want := `NAME    READY   STATUS     RESTARTS   AGE
nginx   0/1     Init:0/1   0          0s
nginx   1/1     Running    0          3s
nginx   0/1     PodInitializing   0          1s
`
	if buf.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", buf.String(), want)
	}
}
