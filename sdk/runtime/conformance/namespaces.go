package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// nsScript prints the container's IPC, UTS and network namespaces and its
// hostname, one a line.
const nsScript = `for n in ipc uts net; do /bin/busybox readlink /proc/self/ns/$n; done; hostname`

// namespacesOf runs nsScript in a new container of sb and returns its
// lines: ipc, uts, net, hostname.
func (s *suite) namespacesOf(t *testing.T, sb, name string) []string {
	t.Helper()
	cfg := sh(nsScript)
	cfg.Name = name
	st := s.runToExit(t, sb, cfg)
	out := s.logs(t, st.ID, runtime.LogOptions{TailLines: -1})
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if st.ExitCode != 0 || len(lines) != 4 {
		t.Fatalf("container %s exited %d printing %q; want its ipc, uts and net namespaces and hostname", name, st.ExitCode, out)
	}
	for i, kind := range []string{"ipc", "uts", "net"} {
		if !strings.HasPrefix(lines[i], kind+":[") {
			t.Fatalf("container %s printed %q for its %s namespace", name, lines[i], kind)
		}
	}
	return lines
}

// testSharedNamespaces checks that the containers of a sandbox share its
// IPC, UTS (hostname) and network namespaces, also one after the other (the
// namespaces outlive the containers), and that another sandbox's containers
// do not.
func (s *suite) testSharedNamespaces(t *testing.T) {
	t.Run("OwnNetwork", func(t *testing.T) {
		sb := s.sandbox(t, runtime.SandboxConfig{Hostname: "shared-host"})
		other := s.sandbox(t, runtime.SandboxConfig{Hostname: "other-host"})
		first := s.namespacesOf(t, sb, "first")
		second := s.namespacesOf(t, sb, "second")
		elsewhere := s.namespacesOf(t, other, "elsewhere")
		for i, kind := range []string{"ipc", "uts", "net"} {
			if first[i] != second[i] {
				t.Errorf("two containers of one sandbox (run one after the other) are in %s namespaces %s and %s, want the same", kind, first[i], second[i])
			}
			if elsewhere[i] == first[i] {
				t.Errorf("containers of two sandboxes share the %s namespace %s", kind, first[i])
			}
		}
		if first[3] != "shared-host" || second[3] != "shared-host" || elsewhere[3] != "other-host" {
			t.Errorf("hostnames %q, %q (one sandbox) and %q (the other), want shared-host, shared-host and other-host", first[3], second[3], elsewhere[3])
		}
	})
	t.Run("GivenNetwork", func(t *testing.T) {
		netns := s.netns(t)
		sb := s.sandbox(t, runtime.SandboxConfig{NetNSPath: netns})
		first := s.namespacesOf(t, sb, "first")
		second := s.namespacesOf(t, sb, "second")
		if want := nsInode(t, "net", netns); first[2] != want || second[2] != want {
			t.Errorf("containers of a sandbox with NetNSPath are in network namespaces %s and %s, want the given one, %s", first[2], second[2], want)
		}
		if first[0] != second[0] || first[1] != second[1] {
			t.Errorf("containers of one sandbox: ipc %s and %s, uts %s and %s; want them shared", first[0], second[0], first[1], second[1])
		}
	})
	t.Run("SharedMemory", func(t *testing.T) {
		// /dev/shm is the sandbox's, as in a Kubernetes pod: POSIX shared
		// memory is shared like the IPC namespace, and outlives containers.
		sb := s.sandbox(t, runtime.SandboxConfig{})
		other := s.sandbox(t, runtime.SandboxConfig{})
		const read = `cat /dev/shm/conformance 2>/dev/null || echo missing`
		s.output(t, sb, runtime.SecurityConfig{}, `echo shared > /dev/shm/conformance`)
		if got := s.output(t, sb, runtime.SecurityConfig{ReadOnlyRootfs: true}, read); got != "shared\n" {
			t.Errorf("a file one container wrote to /dev/shm is %q in the next container of the sandbox, want \"shared\"", got)
		}
		if got := s.output(t, other, runtime.SecurityConfig{}, read); got != "missing\n" {
			t.Errorf("a container of another sandbox sees %q in /dev/shm, want nothing", got)
		}
	})
	t.Run("WhileRunning", func(t *testing.T) {
		// The loopback is shared: a container reaches another's server,
		// bound to 127.0.0.1, while it runs.
		sb := s.sandbox(t, runtime.SandboxConfig{})
		server := s.start(t, sb, sh(`mkdir -p /tmp/www && echo from-the-first > /tmp/www/index.html && exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /tmp/www`))
		s.waitState(t, server, runtime.StateRunning)
		var got string
		for range 50 {
			cfg := sh(`printf 'GET / HTTP/1.0\r\n\r\n' | /bin/busybox nc 127.0.0.1 8080 2>/dev/null | /bin/busybox tail -n 1`)
			cfg.Name = "client"
			st := s.runToExit(t, sb, cfg)
			if got = s.logs(t, st.ID, runtime.LogOptions{TailLines: -1}); got != "" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got != "from-the-first\n" {
			t.Errorf("a container fetching 127.0.0.1:8080 got %q, want the other container's page: the sandbox's containers do not share the loopback", got)
		}
	})
}
