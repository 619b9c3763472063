package describe

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestConfigMap(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-config", Namespace: "default",
			Annotations: map[string]string{lastAppliedAnnotation: `{"data":{}}`}},
		Data:       map[string]string{"nginx.conf": "stream {\n\tserver {}\n}", "a": "1"},
		BinaryData: map[string][]byte{"bin": {0, 1, 2}},
	}
	got := ConfigMap(cm, []corev1.Event{}, time.Now())
	want := `Name:         nginx-config
Namespace:    default
Labels:       <none>
Annotations:  <none>

Data
====
a:
----
1
nginx.conf:
----
stream {
	server {}
}

BinaryData
====
bin:  3 bytes

Events:  <none>
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSecretHidesValues(t *testing.T) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "redis-secret", Namespace: "default", Labels: map[string]string{"app": "redis"},
			Annotations: map[string]string{lastAppliedAnnotation: `{"data":{"redis-secret":"U0VUIHNlY3JldCBmb29iYXIK"}}`}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"redis-secret": []byte("SET secret foobar\n"), "pw": []byte("hunter")},
	}
	got := Secret(s)
	want := `Name:         redis-secret
Namespace:    default
Labels:       app=redis
Annotations:  <none>

Type:  Opaque

Data
====
pw:            6 bytes
redis-secret:  18 bytes
`
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "foobar") || strings.Contains(got, "U0VU") || strings.Contains(got, "hunter") {
		t.Fatal("a secret value leaked into describe")
	}
}
