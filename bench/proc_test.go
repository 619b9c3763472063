package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// readProcMem reads a process's VmRSS (from status) and PSS (from
// smaps_rollup), in KiB.
func readProcMem(name string, pid int) (procMem, error) {
	pm := procMem{name: name, pid: pid}
	var err error
	if pm.rss, err = kibField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:"); err != nil {
		return pm, err
	}
	pm.pss, err = kibField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	return pm, err
}

// kibField reads the "<field> N kB" line of a /proc file.
func kibField(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s line (a kernel thread, or gone)", path, field)
}

// cmdline is a process's argv.
func cmdline(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(data) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(data, "\x00")), "\x00")
}

// pids lists every process.
func pids() []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := make([]int, 0, len(dirs))
	for _, d := range dirs {
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// parentPID reads the PPid of pid.
func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return -1
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// children lists the direct children of pid.
func children(pid int) []int {
	var out []int
	for _, p := range pids() {
		if parentPID(p) == pid {
			out = append(out, p)
		}
	}
	return out
}

// containerdPID finds the containerd serving socket: testenv runs it with
// --config DIR/config.toml, where DIR holds the socket. 0 when not found
// (for example a shared containerd given by SKIFF_TEST_CONTAINERD_SOCKET).
func containerdPID(socket string) int {
	cfg := filepath.Join(filepath.Dir(socket), "config.toml")
	for _, p := range pids() {
		args := cmdline(p)
		if len(args) == 0 || filepath.Base(args[0]) != "containerd" {
			continue
		}
		for _, a := range args {
			if a == cfg || a == socket {
				return p
			}
		}
	}
	return 0
}

// mib turns KiB into MiB, printed as "MB" like the targets are written.
func mib(kib int64) float64 { return float64(kib) / 1024 }

// logDrivers lists the runtime plugin's log driver processes (one per
// running container, started by the shims) writing under dataDir.
func logDrivers(dataDir string) []procMem {
	var out []procMem
	for _, p := range pids() {
		args := cmdline(p)
		if !slices.Contains(args, "skiff-log-driver") {
			continue
		}
		if i := slices.Index(args, "log-path"); i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], dataDir+"/") {
			continue
		}
		if pm, err := readProcMem("log driver", p); err == nil {
			out = append(out, pm)
		}
	}
	return out
}
