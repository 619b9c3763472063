package conformance

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inNetNS runs fn on an OS thread inside the network namespace at path.
// Sockets fn opens stay in that namespace after it returns. The thread is
// never unlocked, so the Go runtime throws it away afterwards instead of
// reusing a thread in the wrong namespace.
func inNetNS(path string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// listenIn opens a TCP listener on addr:0 inside the namespace at nsPath
// and echoes one line per connection back until the listener is closed.
func listenIn(nsPath string, addr netip.Addr) (net.Listener, error) {
	var ln net.Listener
	err := inNetNS(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, nsPath, err)
	}
	go echo(ln)
	return ln, nil
}

func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(c, io.LimitReader(c, 64))
		}()
	}
}

// roundTrip sends a message on conn, expects it echoed and closes conn.
func roundTrip(conn net.Conn) error {
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	msg := "skiff conformance " + strconv.Itoa(os.Getpid())
	if _, err := io.WriteString(conn, msg); err != nil {
		return fmt.Errorf("write to %s: %w", conn.RemoteAddr(), err)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
	}
	got, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("read from %s: %w", conn.RemoteAddr(), err)
	}
	if string(got) != msg {
		return fmt.Errorf("%s echoed %q, want %q", conn.RemoteAddr(), got, msg)
	}
	return nil
}

// dialFrom dials addr from inside the namespace at nsPath ("" means the
// test's own namespace).
func dialFrom(nsPath string, addr net.Addr) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if nsPath == "" {
		return d.Dial("tcp", addr.String())
	}
	var conn net.Conn
	err := inNetNS(nsPath, func() (err error) {
		conn, err = d.Dial("tcp", addr.String())
		return err
	})
	return conn, err
}

// hasDefaultRoute reports whether the calling thread's network namespace
// has an IPv4 default route. /proc/thread-self/net is the namespace of the
// thread, unlike /proc/self/net.
func hasDefaultRoute() (bool, error) {
	data, err := os.ReadFile("/proc/thread-self/net/route")
	if err != nil {
		return false, err
	}
	// Iface Destination Gateway Flags RefCnt Use Metric Mask ...
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && f[1] == "00000000" && f[7] == "00000000" {
			return true, nil
		}
	}
	return false, nil
}
