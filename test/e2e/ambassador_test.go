package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/test/testimage"
)

// ambassadorImages replaces the chapter's images with offline stand-ins
// (test/testimage) that behave the same: redis speaks RESP, nginx reads the
// stream block of its nginx.conf and proxies it, and the Flask app answers
// port 5000 with the page, GETSETting the last visit through localhost:6379.
var ambassadorImages = strings.NewReplacer(
	"image: <your_dockerhub_user>/flask-redis\n", "image: "+testimage.FlaskRedisRef+"\n",
	"image: bharamicrosystems/flask-redis\n", "image: "+testimage.FlaskRedisRef+"\n",
	"image: nginx\n", "image: "+testimage.NginxRef+"\n",
)

// chapterInitFix is the book's erratum to the ambassador's init container:
// as printed, it never replaces REDIS_PORT, and nginx refuses
// "redis:REDIS_PORT" (the test checks that it does, as in Kubernetes).
var chapterInitFix = strings.NewReplacer(
	`sed -i "s/REDIS_HOST/${REDIS_HOST}/g" /etc/nginx/nginx.conf']`,
	`sed -i "s/REDIS_HOST/${REDIS_HOST}/g" /etc/nginx/nginx.conf && sed -i "s/REDIS_PORT/${REDIS_PORT}/g" /etc/nginx/nginx.conf']`,
)

var visitedPage = regexp.MustCompile(`Hi there! This page was last visited on (\d{4}-\d{2}-\d{2}, \d{2}:\d{2}:\d{2})\.`)

// ambassadorAcrossNodes is the chapter's ambassador pattern on a
// multi-node cluster, with its commands and manifests: redis runs on one
// worker behind the Service `skiffctl expose` makes; flask-ambassador runs
// on another worker, where the Flask app reaches localhost:6379, the nginx
// ambassador proxies that to redis:6379 by Service name across the VXLAN
// overlay, and `port-forward` brings the page to the test. The manifests
// change only in their images, and in a nodeSelector that keeps the two
// pods on different workers.
func (m *multiCluster) ambassadorAcrossNodes(t *testing.T, dir string, workers []string) {
	archive, err := testimage.Archive(dir, "chapter-images.tar", testimage.AmbassadorImages()...)
	if err != nil {
		t.Fatalf("build the chapter's stand-in images: %v", err)
	}
	m.mustCtl("image", "load", archive)

	// $ kubectl run redis --image=redis
	// $ kubectl expose pod redis --port 6379
	m.mustCtl("run", "redis", "--image="+testimage.RedisRef)
	m.mustCtl("expose", "pod", "redis", "--port", "6379")
	m.waitFor("redis Running", 60*time.Second, func() (bool, string) {
		ph := m.jsonpath("pod/redis", "{.status.phase}")
		return ph == "Running", ph
	})
	redisNode := m.jsonpath("pod/redis", "{.spec.nodeName}")
	appNode := ""
	for _, w := range workers {
		if w != redisNode {
			appNode = w
			break
		}
	}
	if appNode == "" {
		t.Fatalf("redis runs on %q; no other worker in %v", redisNode, workers)
	}

	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, f := range []string{"redis-config-map.yaml", "nginx-config-map.yaml"} {
		m.mustCtl("apply", "-f", write(f, chapterManifests[f]))
	}
	pin := fmt.Sprintf("spec:\n  nodeSelector:\n    kubernetes.io/hostname: %s\n", appNode)
	asPrinted := strings.Replace(ambassadorImages.Replace(chapterManifests["flask-ambassador.yaml"]), "spec:\n", pin, 1)
	if asPrinted == chapterManifests["flask-ambassador.yaml"] || !strings.Contains(asPrinted, testimage.NginxRef) || !strings.Contains(asPrinted, testimage.FlaskRedisRef) {
		t.Fatalf("images not replaced in the chapter's manifest:\n%s", asPrinted)
	}

	// As printed, nginx refuses the half-rendered upstream, as it would in
	// Kubernetes.
	m.mustCtl("apply", "-f", write("flask-ambassador-as-printed.yaml", asPrinted))
	m.waitFor("nginx refusing redis:REDIS_PORT", 90*time.Second, func() (bool, string) {
		out, errOut, _ := m.ctl("logs", "flask-ambassador", "-c", "nginx-ambassador")
		return strings.Contains(out, `invalid port in upstream "redis:REDIS_PORT"`), out + errOut
	})
	m.mustCtl("delete", "pod", "flask-ambassador", "--grace-period=0", "--force")
	m.waitFor("flask-ambassador gone", 30*time.Second, func() (bool, string) {
		_, errOut, err := m.ctl("get", "pod", "flask-ambassador")
		return err != nil && strings.Contains(errOut, "NotFound"), errOut
	})

	// With the erratum: $ kubectl apply -f flask-ambassador.yaml
	fixed := chapterInitFix.Replace(asPrinted)
	if fixed == asPrinted {
		t.Fatal("the erratum did not apply to the chapter's init container command")
	}
	m.mustCtl("apply", "-f", write("flask-ambassador.yaml", fixed))
	// $ kubectl get pod/flask-ambassador → 2/2 Running
	m.waitFor("flask-ambassador 2/2 Running", 90*time.Second, func() (bool, string) {
		out, _, _ := m.ctl("get", "pod/flask-ambassador", "--no-headers")
		return regexp.MustCompile(`^flask-ambassador\s+2/2\s+Running\s+0\s`).MatchString(out), out
	})
	if got := m.jsonpath("pod/flask-ambassador", "{.spec.nodeName}"); got != appNode || got == redisNode {
		t.Fatalf("flask-ambassador runs on %q, want %q (redis is on %q)", got, appNode, redisNode)
	}

	// $ kubectl port-forward flask-ambassador 5000:5000, then curl, three
	// times: the first two pages show the first visit (GETSET), the third
	// the second.
	pf := startPortForward(t, m.env(), "port-forward", "flask-ambassador", ":5000")
	addr := "127.0.0.1:" + pf.waitListening(t, 1)[0]
	var visits []string
	firstTries := 0
	for i := 0; i < 3; i++ {
		var page string
		m.waitFor("the page through the ambassador", 30*time.Second, func() (bool, string) {
			if i == 0 {
				firstTries++
			}
			got, err := fetchHTTP10(addr, "/")
			page = got
			return err == nil && visitedPage.MatchString(got), fmt.Sprintf("%q %v", got, err)
		})
		visits = append(visits, visitedPage.FindStringSubmatch(page)[1])
		t.Logf("curl localhost:5000 → %s", strings.TrimSpace(page[strings.Index(page, "Hi there!"):]))
		time.Sleep(1100 * time.Millisecond) // the page has second precision
	}
	// A first attempt that failed after redis stored its visit moves the
	// value on; only a first page at the first try must equal the second.
	if (firstTries == 1 && visits[0] != visits[1]) || visits[1] < visits[0] || visits[2] <= visits[1] {
		t.Errorf("visits %q (first page after %d tries): want the first two equal (GETSET of the first visit) and the third later", visits, firstTries)
	}
	pf.interrupt(t)
}
