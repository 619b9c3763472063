package controllers

import (
	"bytes"
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/internal/testapi"
	"github.com/skiffhq/skiff/core/registry"
	"github.com/skiffhq/skiff/test/testenv"
)

// addToken stores a bootstrap token secret expiring ttl after now (0:
// never).
func addToken(t *testing.T, c *client.Client, id string, ttl time.Duration, now time.Time) {
	t.Helper()
	s, err := registry.NewBootstrapTokenSecret(id+".0123456789abcdef", ttl, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), api.Secrets, s.Namespace, s); err != nil {
		t.Fatal(err)
	}
}

func secretNames(t *testing.T, c *client.Client, ns string) string {
	t.Helper()
	list, _, err := client.List[corev1.Secret](context.Background(), c, api.Secrets, ns, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range list {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestTokenCleanerDeletesExpiredTokens(t *testing.T) {
	srv := testapi.Start(t)
	c := srv.Admin
	ctx := context.Background()
	now := time.Now()
	addToken(t, c, "hour01", time.Hour, now)
	addToken(t, c, "day001", 24*time.Hour, now)
	addToken(t, c, "never1", 0, now)
	// Not tokens, though they look like one: left alone.
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-opaque", Namespace: "kube-system"}, Data: map[string][]byte{"expiration": []byte("2000-01-01T00:00:00Z")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "expiration", Namespace: "default"}, Data: map[string][]byte{"expiration": []byte("2000-01-01T00:00:00Z")}},
	} {
		if err := c.Create(ctx, api.Secrets, s.Namespace, s); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	tc := &TokenCleaner{Client: c, Log: slog.New(slog.NewTextHandler(&log, nil)), Now: func() time.Time { return now }}

	tc.clean(ctx)
	if got, want := secretNames(t, c, "kube-system"), "bootstrap-token-day001,bootstrap-token-hour01,bootstrap-token-never1,bootstrap-token-opaque"; got != want {
		t.Errorf("nothing expired: secrets %s, want %s", got, want)
	}
	// Two hours on: the one-hour token goes.
	tc.Now = func() time.Time { return now.Add(2 * time.Hour) }
	tc.clean(ctx)
	if got, want := secretNames(t, c, "kube-system"), "bootstrap-token-day001,bootstrap-token-never1,bootstrap-token-opaque"; got != want {
		t.Errorf("after 2h: secrets %s, want %s", got, want)
	}
	if !strings.Contains(log.String(), "deleted expired bootstrap token") || !strings.Contains(log.String(), "kube-system/bootstrap-token-hour01") {
		t.Errorf("log:\n%s", log.String())
	}
	// A year on: every expiring token is gone, the others stay.
	tc.Now = func() time.Time { return now.Add(365 * 24 * time.Hour) }
	tc.clean(ctx)
	if got, want := secretNames(t, c, "kube-system"), "bootstrap-token-never1,bootstrap-token-opaque"; got != want {
		t.Errorf("after a year: secrets %s, want %s", got, want)
	}
	if got := secretNames(t, c, "default"); got != "expiration" {
		t.Errorf("default namespace: secrets %s, want expiration", got)
	}
}

// TestTokenCleanerRunsAtStartAndRaces: Run cleans at once (not only after
// a period); two cleaners racing on the same tokens log no error.
func TestTokenCleanerRunsAtStartAndRaces(t *testing.T) {
	srv := testapi.Start(t)
	c := srv.Admin
	past := time.Now().Add(-2 * time.Hour)
	for _, id := range []string{"gone01", "gone02", "gone03", "gone04"} {
		addToken(t, c, id, time.Hour, past)
	}
	addToken(t, c, "stays1", 0, past)

	var log testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			(&TokenCleaner{Client: c, Period: time.Hour, Log: slog.New(slog.NewTextHandler(&log, nil))}).Run(ctx)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for secretNames(t, c, "kube-system") != "bootstrap-token-stays1" {
		if time.Now().After(deadline) {
			t.Fatalf("expired tokens not cleaned at start: %s", secretNames(t, c, "kube-system"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if strings.Contains(log.String(), "level=WARN") {
		t.Errorf("racing cleaners logged warnings:\n%s", log.String())
	}
}
