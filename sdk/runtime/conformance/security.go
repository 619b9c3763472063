package conformance

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// Capability bits, as in /proc/<pid>/status.
const (
	capChown    = 0
	capNetAdmin = 12
	capSysAdmin = 21
)

// output runs script in a new container of sb with sec and returns what it
// printed; the script must exit 0.
func (s *suite) output(t *testing.T, sb string, sec runtime.SecurityConfig, script string) string {
	t.Helper()
	cfg := sh(script)
	cfg.Security = sec
	st := s.runToExit(t, sb, cfg)
	out := s.logs(t, st.ID, runtime.LogOptions{TailLines: -1})
	if st.ExitCode != 0 {
		t.Fatalf("script %q with %+v exited %d (%s %s), printing %q", script, sec, st.ExitCode, st.Reason, st.Message, out)
	}
	return out
}

var statusLine = regexp.MustCompile(`(?m)^(CapEff|NoNewPrivs):\s+(\S+)$`)

// procStatus runs a container with sec and returns its CapEff bits and
// NoNewPrivs flag from /proc/self/status.
func (s *suite) procStatus(t *testing.T, sb string, sec runtime.SecurityConfig) (capEff uint64, noNewPrivs string) {
	t.Helper()
	out := s.output(t, sb, sec, `cat /proc/self/status`)
	fields := map[string]string{}
	for _, m := range statusLine.FindAllStringSubmatch(out, -1) {
		fields[m[1]] = m[2]
	}
	capEff, err := strconv.ParseUint(fields["CapEff"], 16, 64)
	if err != nil {
		t.Fatalf("no CapEff in /proc/self/status of the container: %q", out)
	}
	return capEff, fields["NoNewPrivs"]
}

func has(caps uint64, bit int) bool { return caps&(1<<bit) != 0 }

func (s *suite) testSecurity(t *testing.T) {
	sb := s.sandbox(t, runtime.SandboxConfig{})
	uid, gid := int64(1000), int64(3000)
	zero := int64(0)

	t.Run("RunAsUserAndGroup", func(t *testing.T) {
		got := s.output(t, sb, runtime.SecurityConfig{RunAsUser: &uid, RunAsGroup: &gid}, `/bin/busybox id -u; /bin/busybox id -g`)
		if got != "1000\n3000\n" {
			t.Errorf("id -u, id -g = %q, want 1000 and 3000", got)
		}
	})
	t.Run("RunAsUser", func(t *testing.T) {
		if got := s.output(t, sb, runtime.SecurityConfig{RunAsUser: &uid}, `/bin/busybox id -u`); got != "1000\n" {
			t.Errorf("id -u = %q, want 1000", got)
		}
	})
	t.Run("RunAsGroupKeepsTheImageUser", func(t *testing.T) {
		if got := s.output(t, sb, runtime.SecurityConfig{RunAsGroup: &gid}, `/bin/busybox id -u; /bin/busybox id -g`); got != "0\n3000\n" {
			t.Errorf("id -u, id -g = %q, want 0 (the image's root) and 3000", got)
		}
	})
	t.Run("ExecRunsAsTheContainerUser", func(t *testing.T) {
		cfg := runtime.ContainerConfig{Command: []string{"sleep", "1000"}, Security: runtime.SecurityConfig{RunAsUser: &uid, RunAsGroup: &gid}}
		id := s.start(t, sb, cfg)
		s.waitState(t, id, runtime.StateRunning)
		var out bytes.Buffer
		code, err := s.rt.Exec(s.ctx(t), id, runtime.ExecOptions{Cmd: []string{"/bin/busybox", "id", "-u"}, Stdout: &out})
		if err != nil || code != 0 || out.String() != "1000\n" {
			t.Errorf("exec id -u = code %d, %q, %v; want 1000", code, out.String(), err)
		}
	})
	t.Run("RunAsNonRoot", func(t *testing.T) {
		// The test image has no USER: it runs as root.
		for _, sec := range []runtime.SecurityConfig{
			{RunAsNonRoot: true},
			{RunAsNonRoot: true, RunAsUser: &zero},
			{RunAsNonRoot: true, RunAsGroup: &gid},
		} {
			err := s.createFails(t, sb, runtime.ContainerConfig{Name: "root", Command: []string{"true"}, Security: sec})
			wantErrorIs(t, "CreateContainer with RunAsNonRoot of a root container", err, runtime.ErrRunAsRoot)
		}
		got := s.output(t, sb, runtime.SecurityConfig{RunAsNonRoot: true, RunAsUser: &uid}, `/bin/busybox id -u`)
		if got != "1000\n" {
			t.Errorf("with RunAsNonRoot and RunAsUser 1000, id -u = %q", got)
		}
	})
	t.Run("ReadOnlyRootfs", func(t *testing.T) {
		const script = `touch /probe 2>/dev/null && echo writable || echo read-only`
		if got := s.output(t, sb, runtime.SecurityConfig{ReadOnlyRootfs: true}, script); got != "read-only\n" {
			t.Errorf("with ReadOnlyRootfs, writing to / printed %q, want read-only", got)
		}
		if got := s.output(t, sb, runtime.SecurityConfig{}, script); got != "writable\n" {
			t.Errorf("without ReadOnlyRootfs, writing to / printed %q, want writable", got)
		}
	})
	t.Run("Capabilities", func(t *testing.T) {
		// Each case gets a sandbox of its own: setting the loopback's MTU
		// (to what it is: the call needs CAP_NET_ADMIN all the same)
		// touches the sandbox's network namespace.
		const chown = `touch /tmp/f && /bin/busybox chown 1:1 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied`
		const netAdmin = `/bin/busybox ip link set lo mtu 65536 2>/dev/null && echo net-admin-ok || echo net-admin-denied`
		for _, tc := range []struct {
			name       string
			sec        runtime.SecurityConfig
			want, lack []int
			exact      bool
			script     string
			out        string
		}{
			{"Default", runtime.SecurityConfig{}, []int{capChown}, []int{capNetAdmin, capSysAdmin}, false, chown + "; " + netAdmin, "chown-ok\nnet-admin-denied\n"},
			{"DropAll", runtime.SecurityConfig{CapDrop: []string{"ALL"}}, nil, nil, true, chown, "chown-denied\n"},
			{"DropAllAddNetAdmin", runtime.SecurityConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"NET_ADMIN"}}, []int{capNetAdmin}, nil, true, netAdmin, "net-admin-ok\n"},
			{"AddWithPrefix", runtime.SecurityConfig{CapAdd: []string{"CAP_NET_ADMIN"}}, []int{capChown, capNetAdmin}, nil, false, netAdmin, "net-admin-ok\n"},
			{"DropOne", runtime.SecurityConfig{CapDrop: []string{"CHOWN"}}, nil, []int{capChown}, false, chown, "chown-denied\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sb := s.sandbox(t, runtime.SandboxConfig{})
				capEff, _ := s.procStatus(t, sb, tc.sec)
				var want uint64
				for _, bit := range tc.want {
					want |= 1 << bit
					if !has(capEff, bit) {
						t.Errorf("CapEff %#x lacks capability %d", capEff, bit)
					}
				}
				for _, bit := range tc.lack {
					if has(capEff, bit) {
						t.Errorf("CapEff %#x has capability %d", capEff, bit)
					}
				}
				if tc.exact && capEff != want {
					t.Errorf("CapEff = %#x, want exactly %#x", capEff, want)
				}
				if got := s.output(t, sb, tc.sec, tc.script); got != tc.out {
					t.Errorf("%q printed %q, want %q", tc.script, got, tc.out)
				}
			})
		}
	})
	t.Run("NoNewPrivileges", func(t *testing.T) {
		if _, nnp := s.procStatus(t, sb, runtime.SecurityConfig{NoNewPrivileges: true}); nnp != "1" {
			t.Errorf("with NoNewPrivileges, NoNewPrivs is %q, want 1", nnp)
		}
		if _, nnp := s.procStatus(t, sb, runtime.SecurityConfig{}); nnp != "0" {
			t.Errorf("without NoNewPrivileges, NoNewPrivs is %q, want 0", nnp)
		}
	})
	t.Run("Privileged", func(t *testing.T) {
		sb := s.sandbox(t, runtime.SandboxConfig{})
		capEff, _ := s.procStatus(t, sb, runtime.SecurityConfig{Privileged: true})
		if !has(capEff, capSysAdmin) || !has(capEff, capNetAdmin) {
			t.Errorf("privileged CapEff = %#x, want every capability (CAP_SYS_ADMIN and CAP_NET_ADMIN at least)", capEff)
		}
		const script = `/bin/busybox mount -t tmpfs none /tmp 2>/dev/null && echo mount-ok || echo mount-denied; [ -c /dev/kmsg ] && echo has-kmsg || echo no-kmsg`
		kmsg := "has-kmsg"
		if _, err := os.Stat("/dev/kmsg"); err != nil {
			kmsg = "no-kmsg" // a host without it cannot share it
		}
		if got := s.output(t, sb, runtime.SecurityConfig{Privileged: true}, script); got != "mount-ok\n"+kmsg+"\n" {
			t.Errorf("privileged: %q printed %q, want mount-ok and %s (the host's devices)", script, got, kmsg)
		}
		if got := s.output(t, sb, runtime.SecurityConfig{}, script); !strings.HasPrefix(got, "mount-denied\nno-kmsg") {
			t.Errorf("unprivileged: %q printed %q, want mount-denied and no-kmsg", script, got)
		}
	})
}
