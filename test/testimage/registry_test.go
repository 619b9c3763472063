package testimage

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRegistryServesTheArchive(t *testing.T) {
	requireBusybox(t)
	path, err := BusyboxArchive(t.TempDir(), "skiff.test/busybox:1")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()

	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	if resp, _ := get("/v2/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/v2/: %s", resp.Status)
	}
	resp, body := get("/v2/busybox/manifests/1")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != mediaTypeManifest {
		t.Fatalf("manifest by tag: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get("/v2/busybox/manifests/" + resp.Header.Get("Docker-Content-Digest")); resp.StatusCode != http.StatusOK {
		t.Fatalf("manifest by digest: %s", resp.Status)
	}
	if resp, body := get("/v2/busybox/blobs/" + m.Layers[0].Digest); resp.StatusCode != http.StatusOK || int64(len(body)) != m.Layers[0].Size {
		t.Fatalf("layer blob: %s, %d bytes", resp.Status, len(body))
	}
	if resp, _ := get("/v2/busybox/manifests/2"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown tag: %s, want 404", resp.Status)
	}
}

func TestRegistryServesSeveralImages(t *testing.T) {
	requireBusybox(t)
	path, err := AmbassadorArchive(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg)
	defer srv.Close()
	digests := map[string]string{}
	for _, p := range []string{"busybox/manifests/1.28", "library/busybox/manifests/1.28", "redis/manifests/1.0", "nginx/manifests/1.0", "flask-redis/manifests/1.0"} {
		resp, err := http.Head(srv.URL + "/v2/" + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", p, resp.Status)
		}
		digests[p] = resp.Header.Get("Docker-Content-Digest")
	}
	if digests["busybox/manifests/1.28"] != digests["library/busybox/manifests/1.28"] || digests["busybox/manifests/1.28"] == digests["redis/manifests/1.0"] {
		t.Errorf("manifest digests %v", digests)
	}
}
