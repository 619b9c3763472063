package testenv

import (
	"os/exec"
	"runtime"
	"sync"
)

// Children that tests start with Pdeathsig get their signal when the OS
// thread that forked them exits, not when the test process does. Code in a
// test that locks a thread, enters a namespace and lets the thread die (as
// netns helpers do) would then kill a child started from that thread. Start
// runs every cmd.Start on one thread kept alive for the life of the test
// binary, so children die with the process and not with some thread.
func Start(cmd *exec.Cmd) error {
	launcherOnce.Do(startLauncher)
	done := make(chan error, 1)
	launches <- launch{cmd: cmd, done: done}
	return <-done
}

type launch struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	launcherOnce sync.Once
	launches     = make(chan launch)
)

func startLauncher() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for l := range launches {
			l.done <- l.cmd.Start()
		}
	}()
}
