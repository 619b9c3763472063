// Command testplugin is a scheduler plugin that misbehaves on request, for
// the host's supervision tests. Its "mode" setting picks how:
//
//   - "crash": exits with status 3 crash_after (default 100ms) after
//     Configure, every time it is started: a crash loop;
//   - "hang": Schedule freezes the whole process (SIGSTOP to itself), as a
//     deadlocked or stuck plugin would look from outside;
//   - "stdout": prints to stdout (through os.Stdout and straight to file
//     descriptor 1) in Configure and Schedule.
//
// With SKIFF_TESTPLUGIN_EARLY_STDOUT=1 in its environment it prints to
// stdout before calling Serve, which breaks go-plugin's handshake.
package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/skiffhq/skiff/plugins/scheduler-binpack/binpack"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/scheduler"
)

type testPlugin struct {
	*binpack.Scheduler
	mode string
}

func (p *testPlugin) Info(context.Context) (base.Info, error) {
	return base.Info{Kind: base.KindScheduler, Name: "testplugin", Version: "0.0.1", Settings: []base.SettingSpec{
		{Name: "mode", Description: "crash, hang or stdout"},
		{Name: "crash_after", Description: "how long after Configure a crashing plugin exits", Default: "100ms"},
	}}, nil
}

func (p *testPlugin) Configure(_ context.Context, cfg base.Config) error {
	p.mode = cfg.Settings["mode"]
	switch p.mode {
	case "crash":
		d, err := time.ParseDuration(cfg.Settings["crash_after"])
		if err != nil {
			return fmt.Errorf("crash_after: %w", base.ErrInvalid)
		}
		go func() {
			time.Sleep(d)
			fmt.Fprintln(os.Stderr, "testplugin: crashing on purpose")
			os.Exit(3)
		}()
	case "stdout":
		fmt.Println("testplugin: stdout line from Configure")
		raw := os.NewFile(1, "fd1")
		fmt.Fprintln(raw, "testplugin: raw fd 1 line from Configure")
	}
	return nil
}

func (p *testPlugin) Schedule(ctx context.Context, pods []scheduler.Pod) ([]scheduler.Decision, error) {
	switch p.mode {
	case "hang":
		// The stop reaches the other threads asynchronously: never answer,
		// even should this thread run on for a moment.
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		select {}
	case "stdout":
		fmt.Printf("testplugin: stdout line from Schedule (%d pods)\n", len(pods))
	}
	return p.Scheduler.Schedule(ctx, pods)
}

func main() {
	if os.Getenv("SKIFF_TESTPLUGIN_EARLY_STDOUT") == "1" {
		fmt.Println("hello from before the handshake")
	}
	scheduler.Serve(&testPlugin{Scheduler: binpack.New()})
}
