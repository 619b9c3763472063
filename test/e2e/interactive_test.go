package e2e

// skiffctl exec and port-forward end to end: skiffctl → API server → agent
// → runtime plugin → containerd, on real pods.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/test/testenv"
)

// ctlExit runs skiffctl with stdin and returns its output and exit code.
func (c *cluster) ctlExit(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	out, errOut, err := c.ctlIn(stdin, args...)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return out, errOut, 0
	case errors.As(err, &exitErr):
		return out, errOut, exitErr.ExitCode()
	}
	c.t.Fatalf("skiffctl %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

func TestExec(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: shell
spec:
  containers:
  - name: main
    image: %[1]s
    command: ["sleep", "3600"]
    env: [{name: WHO, value: main}]
  - name: side
    image: %[1]s
    command: ["sleep", "3600"]
    env: [{name: WHO, value: side}]
---
apiVersion: v1
kind: Pod
metadata:
  name: one
spec:
  containers:
  - name: only
    image: %[1]s
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: finished
spec:
  restartPolicy: Never
  containers:
  - name: done
    image: %[1]s
    command: ["true"]
`, testImage))
	c.waitPodPhase("one", "Running", 90*time.Second)
	c.waitPodPhase("shell", "Running", 90*time.Second)
	c.waitPodPhase("finished", "Succeeded", 90*time.Second)

	t.Run("Stdout", func(t *testing.T) {
		out, errOut, code := c.ctlExit("", "exec", "one", "--", "sh", "-c", "echo out; echo err >&2")
		if code != 0 || out != "out\n" || errOut != "err\n" {
			t.Errorf("exec = %d, stdout %q, stderr %q; want 0, out, err", code, out, errOut)
		}
		out, _, code = c.ctlExit("", "exec", "pod/one", "--", "hostname")
		if code != 0 || out != "one\n" {
			t.Errorf("exec pod/one -- hostname = %d, %q", code, out)
		}
	})
	t.Run("ExitCode", func(t *testing.T) {
		out, errOut, code := c.ctlExit("", "exec", "one", "--", "sh", "-c", "exit 7")
		if code != 7 || out != "" || errOut != "command terminated with exit code 7\n" {
			t.Errorf("exit 7: code %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("Stdin", func(t *testing.T) {
		input := strings.Repeat("line of input\n", 5000)
		out, errOut, code := c.ctlExit(input, "exec", "-i", "one", "--", "cat")
		if code != 0 || out != input {
			t.Errorf("exec -i cat = %d, %d bytes (want %d), stderr %q", code, len(out), len(input), errOut)
		}
		// Without -i the command reads no input.
		out, _, code = c.ctlExit("ignored\n", "exec", "one", "--", "cat")
		if code != 0 || out != "" {
			t.Errorf("exec cat without -i = %d, %q; want nothing", code, out)
		}
	})
	t.Run("TTYWithoutTerminal", func(t *testing.T) {
		out, errOut, code := c.ctlExit("echo typed\n", "exec", "-it", "one", "--", "sh", "-c", "[ -t 0 ] && echo tty || echo notty; cat")
		if code != 0 || out != "notty\necho typed\n" || errOut != "Unable to use a TTY - input is not a terminal or the right kind of file\n" {
			t.Errorf("exec -it without a terminal = %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("TTY", func(t *testing.T) { testExecInTerminal(t, c) })
	t.Run("Containers", func(t *testing.T) {
		out, errOut, code := c.ctlExit("", "exec", "shell", "-c", "side", "--", "sh", "-c", "echo $WHO")
		if code != 0 || out != "side\n" || errOut != "" {
			t.Errorf("exec -c side = %d, %q, %q", code, out, errOut)
		}
		out, errOut, code = c.ctlExit("", "exec", "shell", "--", "sh", "-c", "echo $WHO")
		if code != 0 || out != "main\n" || errOut != "Defaulted container \"main\" out of: main, side\n" {
			t.Errorf("exec without -c = %d, %q, %q", code, out, errOut)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			code   int
			stderr *regexp.Regexp
		}{
			{[]string{"shell", "-c", "nope", "--", "true"}, 1,
				regexp.MustCompile(`^error: unable to upgrade connection: container not found \("nope"\)\n$`)},
			{[]string{"one", "--", "no-such-command"}, 126,
				regexp.MustCompile(`^OCI runtime exec failed: exec failed: .*"no-such-command": executable file not found in \$PATH: unknown\ncommand terminated with exit code 126\n$`)},
			{[]string{"finished", "--", "true"}, 1,
				regexp.MustCompile(`^error: cannot exec into a container in a completed pod; current phase is Succeeded\n$`)},
			{[]string{"ghost", "--", "true"}, 1,
				regexp.MustCompile(`^Error from server \(NotFound\): pods "ghost" not found\n$`)},
		} {
			_, errOut, code := c.ctlExit("", append([]string{"exec"}, tc.args...)...)
			if code != tc.code || !tc.stderr.MatchString(errOut) {
				t.Errorf("exec %v = %d, stderr %q; want %d, %s", tc.args, code, errOut, tc.code, tc.stderr)
			}
		}
	})
}

// openPTY opens a pseudo-terminal pair (what creack/pty does: unlock the
// /dev/ptmx master, open the /dev/pts slave it names).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("pty number: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

func setTermSize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatalf("set terminal size: %v", err)
	}
}

// testExecInTerminal runs `skiffctl exec -it` with a pseudo-terminal as its
// controlling terminal: the command gets a TTY of the terminal's size,
// follows a resize, reads what is typed, and the terminal is back to its
// settings (echo, line editing) when skiffctl exits.
func testExecInTerminal(t *testing.T, c *cluster) {
	master, slave := openPTY(t)
	setTermSize(t, master, 33, 101)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	script := `[ -t 0 ] && [ -t 1 ] && echo is-a-tty; echo "size $(/bin/busybox stty size)"; ` +
		`while read line; do echo "size $(/bin/busybox stty size)"; done; exit 3`
	cmd := exec.Command(filepath.Join(binDir, "skiffctl"), "--config", c.config, "exec", "-it", "one", "--", "sh", "-c", script)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := testenv.Start(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var out testenv.SyncBuffer
	copied := make(chan struct{})
	go func() { // ends with EIO once every slave fd is closed
		defer close(copied)
		_, _ = io.Copy(&out, master)
	}()

	waitOutput := func(what string, re *regexp.Regexp, poke func()) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !re.MatchString(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; terminal shows %q", what, out.String())
			}
			if poke != nil {
				poke()
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	waitOutput("the initial size", regexp.MustCompile(`is-a-tty\r\nsize 33 101\r\n`), nil)

	// In raw mode while the command runs: no local echo, no line editing.
	during, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if during.Lflag&(unix.ECHO|unix.ICANON) != 0 {
		t.Errorf("terminal not in raw mode during exec -it: lflag %#x", during.Lflag)
	}
	// A resize reaches the command (the kernel sends skiffctl SIGWINCH).
	setTermSize(t, master, 44, 120)
	waitOutput("the new size", regexp.MustCompile(`size 44 120\r\n`), func() { _, _ = master.Write([]byte("\r")) })
	// ^D at the remote terminal ends its input.
	_, _ = master.Write([]byte{4})
	select {
	case err := <-exited:
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
			t.Errorf("skiffctl exec -it ended with %v, want exit code 3; terminal shows %q", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("skiffctl exec -it did not end after ^D; terminal shows %q", out.String())
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal not restored: lflag %#x iflag %#x oflag %#x, was %#x %#x %#x",
			after.Lflag, after.Iflag, after.Oflag, before.Lflag, before.Iflag, before.Oflag)
	}
	slave.Close()
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		t.Error("the terminal's output did not end after skiffctl exited")
	}
	if !strings.Contains(out.String(), "command terminated with exit code 3") {
		t.Errorf("terminal shows %q, want kubectl's exit note", out.String())
	}
}

// portForwarder is a `skiffctl port-forward` running in the background.
type portForwarder struct {
	cmd         *exec.Cmd
	out, errOut testenv.SyncBuffer
	exited      chan error
}

func (c *cluster) portForward(t *testing.T, args ...string) *portForwarder {
	t.Helper()
	return startPortForward(t, nil, append([]string{"--config", c.config, "port-forward"}, args...)...)
}

// startPortForward runs skiffctl with args (a port-forward) and env added
// to the test's environment, until the test ends.
func startPortForward(t *testing.T, env []string, args ...string) *portForwarder {
	t.Helper()
	f := &portForwarder{exited: make(chan error, 1)}
	f.cmd = exec.Command(filepath.Join(binDir, "skiffctl"), args...)
	f.cmd.Env = append(os.Environ(), env...)
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.errOut
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := testenv.Start(f.cmd); err != nil {
		t.Fatal(err)
	}
	go func() { f.exited <- f.cmd.Wait() }()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			_ = f.cmd.Process.Kill()
			<-f.exited
		}
	})
	return f
}

var forwardingFrom = regexp.MustCompile(`(?m)^Forwarding from (127\.0\.0\.1|\[::1\]|[0-9.]+):(\d+) -> (\d+)$`)

// waitListening waits for n "Forwarding from 127.0.0.1:" lines and returns
// the local port of each, in order.
func (f *portForwarder) waitListening(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ports []string
		for _, m := range forwardingFrom.FindAllStringSubmatch(f.out.String(), -1) {
			if m[1] != "[::1]" {
				ports = append(ports, m[2])
			}
		}
		if len(ports) >= n {
			return ports
		}
		select {
		case err := <-f.exited:
			t.Fatalf("port-forward exited (%v)\nstdout: %s\nstderr: %s", err, f.out.String(), f.errOut.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-forward is not listening\nstdout: %s\nstderr: %s", f.out.String(), f.errOut.String())
		}
	}
}

// interrupt sends SIGINT and waits for a clean exit.
func (f *portForwarder) interrupt(t *testing.T) {
	t.Helper()
	_ = f.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-f.exited:
		if err != nil {
			t.Errorf("port-forward after SIGINT: %v, want exit code 0\nstderr: %s", err, f.errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("port-forward did not exit on SIGINT")
	}
}

// fetchHTTP10 makes an HTTP/1.0 request (the server closes after answering).
func fetchHTTP10(addr, path string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.0\r\n\r\n", path); err != nil {
		return "", err
	}
	data, err := io.ReadAll(conn)
	return string(data), err
}

// echoHalfClosed sends msg, half-closes, and reads the answer to EOF.
func echoHalfClosed(addr, msg string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		return "", err
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	data, err := io.ReadAll(conn)
	return string(data), err
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func TestPortForward(t *testing.T) {
	c := startCluster(t)
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: local
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /www && echo hello-local > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
  - name: any
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /www && echo hello-any > /www/index.html && exec httpd -f -p 0.0.0.0:9090 -h /www"]
  - name: echo
    image: %[1]s
    command: ["nc", "-ll", "-p", "7000", "-e", "cat"]
---
apiVersion: v1
kind: Pod
metadata:
  name: finished
spec:
  restartPolicy: Never
  containers:
  - name: done
    image: %[1]s
    command: ["true"]
`, testImage))
	c.waitPodPhase("web", "Running", 90*time.Second)
	c.waitPodPhase("finished", "Succeeded", 90*time.Second)

	fixed := freeLoopbackAddr(t)
	_, fixedPort, _ := net.SplitHostPort(fixed)
	f := c.portForward(t, "pod/web", fixedPort+":8080", ":9090", ":7000", ":http", ":7777")
	ports := f.waitListening(t, 5)
	local, anyAddr, echo, named, refused := ports[0], ports[1], ports[2], ports[3], ports[4]
	for i, want := range []string{"8080", "9090", "7000", "8080", "7777"} {
		if m := forwardingFrom.FindAllStringSubmatch(f.out.String(), -1); !containsForward(m, ports[i], want) {
			t.Errorf("no line 'Forwarding from 127.0.0.1:%s -> %s' in:\n%s", ports[i], want, f.out.String())
		}
	}
	if local != fixedPort {
		t.Errorf("local port %s, asked for %s", local, fixedPort)
	}

	t.Run("PodLocalhost", func(t *testing.T) {
		// httpd listens on the pod's 127.0.0.1 only: reached from inside.
		got := c.waitFor("an answer through the forward", 30*time.Second, func() (bool, string) {
			body, err := fetchHTTP10("127.0.0.1:"+local, "/index.html")
			return err == nil && strings.Contains(body, "hello-local"), fmt.Sprint(body, err)
		})
		if !strings.HasPrefix(got, "HTTP/1.") {
			t.Errorf("answer %q", got)
		}
		if body, err := fetchHTTP10("127.0.0.1:"+named, "/index.html"); err != nil || !strings.Contains(body, "hello-local") {
			t.Errorf("named port: %q, %v", body, err)
		}
		if hasIPv6Loopback() {
			if !strings.Contains(f.out.String(), "Forwarding from [::1]:"+local+" -> 8080\n") {
				t.Errorf("no ::1 listener:\n%s", f.out.String())
			}
			if body, err := fetchHTTP10("[::1]:"+local, "/index.html"); err != nil || !strings.Contains(body, "hello-local") {
				t.Errorf("through ::1: %q, %v", body, err)
			}
		}
	})
	t.Run("AllAddresses", func(t *testing.T) {
		if body, err := fetchHTTP10("127.0.0.1:"+anyAddr, "/index.html"); err != nil || !strings.Contains(body, "hello-any") {
			t.Errorf("port on 0.0.0.0: %q, %v", body, err)
		}
	})
	t.Run("HalfClose", func(t *testing.T) {
		msg := strings.Repeat("echo me\n", 10000)
		got, err := echoHalfClosed("127.0.0.1:"+echo, msg)
		if err != nil || got != msg {
			t.Errorf("echo after half-close: %d bytes, %v; want the %d sent", len(got), err, len(msg))
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 3 {
				case 0:
					if body, err := fetchHTTP10("127.0.0.1:"+local, "/index.html"); err != nil || !strings.Contains(body, "hello-local") {
						errs <- fmt.Errorf("connection %d: %q, %v", i, body, err)
					}
				case 1:
					if body, err := fetchHTTP10("127.0.0.1:"+anyAddr, "/index.html"); err != nil || !strings.Contains(body, "hello-any") {
						errs <- fmt.Errorf("connection %d: %q, %v", i, body, err)
					}
				default:
					msg := fmt.Sprintf("connection %d\n", i)
					if got, err := echoHalfClosed("127.0.0.1:"+echo, msg); err != nil || got != msg {
						errs <- fmt.Errorf("connection %d: echo %q, %v", i, got, err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := strings.Count(f.out.String(), "Handling connection for "+local+"\n"); n < 7 {
			t.Errorf("%d 'Handling connection for %s' lines, want at least 7", n, local)
		}
	})
	t.Run("RefusedPort", func(t *testing.T) {
		// Nothing listens on 7777 in the pod: the connection is closed, the
		// error reported, and the forward goes on.
		got, _ := fetchHTTP10("127.0.0.1:"+refused, "/")
		if got != "" {
			t.Errorf("refused port answered %q", got)
		}
		c.waitFor("the forwarding error", 10*time.Second, func() (bool, string) {
			return strings.Contains(f.errOut.String(), "an error occurred forwarding "+refused+" -> 7777"), f.errOut.String()
		})
		if body, err := fetchHTTP10("127.0.0.1:"+local, "/index.html"); err != nil || !strings.Contains(body, "hello-local") {
			t.Errorf("after a refused connection: %q, %v", body, err)
		}
	})
	t.Run("Interrupt", func(t *testing.T) {
		f.interrupt(t)
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+local, time.Second); err == nil {
			conn.Close()
			t.Errorf("still listening on %s after SIGINT", local)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			stderr string
		}{
			{[]string{"finished", "80"}, "error: unable to forward port because pod is not running. Current status=Succeeded\n"},
			{[]string{"web", ":grpc"}, "error: Pod 'web' does not have a named port 'grpc'\n"},
			{[]string{"ghost", "80"}, "Error from server (NotFound): pods \"ghost\" not found\n"},
		} {
			_, errOut, code := c.ctlExit("", append([]string{"port-forward"}, tc.args...)...)
			if code != 1 || errOut != tc.stderr {
				t.Errorf("port-forward %v = %d, %q; want 1, %q", tc.args, code, errOut, tc.stderr)
			}
		}
	})
}

func containsForward(lines [][]string, local, remote string) bool {
	for _, m := range lines {
		if m[1] == "127.0.0.1" && m[2] == local && m[3] == remote {
			return true
		}
	}
	return false
}
