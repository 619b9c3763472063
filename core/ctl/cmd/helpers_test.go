package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/internal/fakeserver"
)

// testNow is the clock of every test: objects made "5m ago" show AGE 5m.
var testNow = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(testNow.Add(-d)) }

// env is a fake server and a client connected to it.
type env struct {
	t   *testing.T
	srv *fakeserver.Server
	c   *client.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := fakeserver.New()
	srv.Now = func() time.Time { return testNow }
	conn, stop, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return &env{t: t, srv: srv, c: client.NewFromConn(conn, "default")}
}

// testFactory hands out the env's client and the fixed clock; -n works as
// in the real factory, the context namespace being "default".
type testFactory struct {
	e     *env
	flags *ConfigFlags
}

func (f *testFactory) Client() (*client.Client, error) { return f.e.c, nil }

func (f *testFactory) Namespace() (string, bool) {
	if f.flags.Namespace != "" {
		return f.flags.Namespace, true
	}
	return "default", false
}

func (f *testFactory) Now() time.Time { return testNow }

// result is what one skiffctl invocation printed and returned.
type result struct {
	out, errOut string
	err         error
	code        int
	// printed is what main would print on stderr for err.
	printed string
}

func (e *env) run(args ...string) result { return e.runCtx(context.Background(), "", args...) }

func (e *env) runStdin(stdin string, args ...string) result {
	return e.runCtx(context.Background(), stdin, args...)
}

func (e *env) runCtx(ctx context.Context, stdin string, args ...string) result {
	var out, errOut, printed bytes.Buffer
	streams := IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	root := NewRootCommand(streams, func(flags *ConfigFlags) Factory { return &testFactory{e: e, flags: flags} })
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := PrintError(&printed, err)
	return result{out: out.String(), errOut: errOut.String(), err: err, code: code, printed: printed.String()}
}

// expectOut fails unless stdout is exactly want and the command succeeded.
func (r result) expectOut(t *testing.T, want string) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("unexpected error: %v\nstderr: %s", r.err, r.errOut)
	}
	if r.out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.out, want)
	}
}

func pod(name string, age time.Duration, phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(age), Labels: map[string]string{"run": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "nginx"}}},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
	return p
}

func runningStatus(name string, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, Image: "nginx",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
}

// errInvalid is the error the server returns for an object that fails
// validation.
func errInvalid(kind, name, detail string) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: kind}, name,
		field.ErrorList{field.Forbidden(field.NewPath("spec"), strings.TrimPrefix(detail, "spec: Forbidden: "))})
}
