package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// ip runs iproute2's ip.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// netnsPath is where `ip netns` keeps a named namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// startIn starts cmd with its network namespace set to the one at nsPath
// (mount and other namespaces stay the host's, so the mounts the node's
// plugins make are the host's and containerd sees them). The fork happens
// on an OS thread that joined the namespace; the thread is put back and
// unlocked only when that succeeded, else it dies with its goroutine.
func startIn(nsPath string, cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			errc <- fmt.Errorf("node netns: %w", err)
			return
		}
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		target.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", nsPath, err)
			return
		}
		startErr := cmd.Start()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- startErr // the thread stays locked and ends with this goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- startErr
	}()
	return <-errc
}

// pickSubnet chooses 172.31.<k>.0/24 with no address of the host in it and
// not used by another cluster.
func pickSubnet(taken map[int]bool) (int, error) {
	var used []netip.Prefix
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return 0, fmt.Errorf("list host addresses: %w", err)
	}
	routes, _ := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	sc := bufio.NewScanner(bytes.NewReader(append(out, routes...)))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if p, err := netip.ParsePrefix(f); err == nil {
				used = append(used, p.Masked())
			} else if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
				used = append(used, netip.PrefixFrom(a, 32))
			}
		}
	}
	for k := 0; k < 256; k++ {
		if taken[k] {
			continue
		}
		cand := netip.MustParsePrefix(fmt.Sprintf("172.31.%d.0/24", k))
		free := true
		for _, u := range used {
			if u.Bits() > 0 && u.Overlaps(cand) {
				free = false
				break
			}
		}
		if free {
			return k, nil
		}
	}
	return 0, fmt.Errorf("no free /24 in 172.31.0.0/16 for the cluster's node network")
}
