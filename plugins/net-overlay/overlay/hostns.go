package overlay

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// hostNS is the network namespace that plays the node's host: where the
// bridge, the VXLAN device, the routes, the iptables rules and the DNS
// server's sockets live. The zero value is the plugin's own namespace.
//
// With a path (setting "netns"), do runs its function on an OS thread of
// its own that first joins that namespace. Everything the function does on
// that goroutine happens there: netlink calls through the package-level
// functions, /proc/sys writes, commands it starts (a child inherits its
// thread's namespace) and sockets it opens (which stay in that namespace
// for their whole life, whatever goroutine uses them later). Goroutines the
// function starts do not inherit the namespace.
type hostNS struct {
	path string
}

// do runs fn in the namespace. The namespace file is opened on every call,
// not kept open, so deleting the node's namespace is never held up by the
// plugin.
func (h hostNS) do(fn func() error) error {
	if h.path == "" {
		return fn()
	}
	done := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the Go
		// runtime ends the thread instead of handing a thread in the
		// node's namespace to other goroutines.
		runtime.LockOSThread()
		f, err := os.Open(h.path)
		if err != nil {
			done <- fmt.Errorf("node netns: %w", err)
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			done <- fmt.Errorf("node netns %s: setns: %w", h.path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}
