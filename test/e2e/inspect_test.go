package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logs -f follows a running container, --tail and --timestamps shape the
// output; `get -o yaml` output applies again; events list.
func TestLogsFlagsYAMLRoundTripAndEvents(t *testing.T) {
	c := startCluster(t)
	c.mustCtl("run", "counter", "--image="+testImage, "--", "sh", "-c", "for i in $(seq 1 5); do echo line-$i; done; while true; do echo tick; sleep 1; done")
	c.waitPodPhase("counter", "Running", 60*time.Second)
	c.waitFor("first lines", 20*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("logs", "counter")
		return strings.Contains(out, "line-5"), out
	})
	if out := c.mustCtl("logs", "counter", "--tail", "2"); len(strings.Split(strings.TrimSpace(out), "\n")) != 2 {
		t.Errorf("logs --tail 2 gave:\n%s", out)
	}
	stamped := strings.Split(strings.TrimSpace(c.mustCtl("logs", "counter", "--timestamps")), "\n")[0]
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line-1$`).MatchString(stamped) {
		t.Errorf("logs --timestamps first line %q", stamped)
	}

	// -f keeps streaming new lines until it is stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, filepath.Join(binDir, "skiffctl"), "--config", c.config, "logs", "-f", "counter")
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ticks := 0
	for sc.Scan() && ticks < 3 {
		if sc.Text() == "tick" {
			ticks++
		}
	}
	cancel()
	_ = follow.Wait()
	if ticks < 3 {
		t.Errorf("logs -f delivered %d tick lines, want 3", ticks)
	}

	yaml := c.mustCtl("get", "pod", "counter", "-o", "yaml")
	out2, errOut, err := c.ctlIn(yaml, "apply", "-f", "-")
	if err != nil || !strings.Contains(out2, "pod/counter") {
		t.Errorf("apply of get -o yaml: %v\n%s%s", err, out2, errOut)
	}
	events := c.mustCtl("get", "events")
	if !regexp.MustCompile(`(?m)^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE`).MatchString(events) || !strings.Contains(events, "pod/counter") || !strings.Contains(events, "Started") {
		t.Errorf("get events:\n%s", events)
	}
}
