package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestConfirmReset(t *testing.T) {
	for _, tc := range []struct {
		name     string
		force    bool
		terminal bool
		answer   string
		wantErr  string // "" for no error
		prompt   bool
	}{
		{name: "force skips the question", force: true, terminal: false},
		{name: "no terminal needs --force", terminal: false, answer: "y\n", wantErr: "run skiffd reset --force"},
		{name: "y", terminal: true, answer: "y\n", prompt: true},
		{name: "yes", terminal: true, answer: " YES \n", prompt: true},
		{name: "y without newline", terminal: true, answer: "y", prompt: true},
		{name: "n", terminal: true, answer: "n\n", wantErr: errNotConfirmed.Error(), prompt: true},
		{name: "empty is no", terminal: true, answer: "\n", wantErr: errNotConfirmed.Error(), prompt: true},
		{name: "end of input is no", terminal: true, answer: "", wantErr: errNotConfirmed.Error(), prompt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := confirmReset(strings.NewReader(tc.answer), &out, tc.force, tc.terminal, "/var/lib/skiff")
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one with %q", err, tc.wantErr)
			}
			if got := strings.Contains(out.String(), "Are you sure you want to proceed? [y/N]"); got != tc.prompt {
				t.Errorf("prompted: %v, want %v; output:\n%s", got, tc.prompt, out.String())
			}
		})
	}
}

func TestSkiffdDataDir(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantDir string
		wantOK  bool
	}{
		{[]string{"skiffd", "dev", "--data-dir", "/d"}, "/d", true},
		{[]string{"/usr/local/bin/skiffd", "agent", "--server", "x:6443", "--data-dir=/d2"}, "/d2", true},
		{[]string{"bin/skiffd", "server"}, "/var/lib/skiff", true},
		{[]string{"skiffd", "dev", "--node-name", "agent", "--data-dir", "rel"}, "rel", true},
		{[]string{"skiffd", "reset", "--data-dir", "/d"}, "", false},
		{[]string{"skiffd", "rotate-encryption-key", "--data-dir", "/d"}, "", false},
		{[]string{"skiffd"}, "", false},
		{[]string{"containerd", "dev", "--data-dir", "/d"}, "", false},
		{[]string{"skiffd-helper", "dev"}, "", false},
	} {
		dir, ok := skiffdDataDir(tc.args)
		if dir != tc.wantDir || ok != tc.wantOK {
			t.Errorf("skiffdDataDir(%q) = %q, %v; want %q, %v", tc.args, dir, ok, tc.wantDir, tc.wantOK)
		}
	}
}

// fakeProc writes a /proc/<pid> with a command line and a working
// directory.
func fakeProc(t *testing.T, procDir, pid, cwd string, args ...string) {
	t.Helper()
	dir := filepath.Join(procDir, pid)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.Join(args, "\x00")+"\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cwd != "" {
		if err := os.Symlink(cwd, filepath.Join(dir, "cwd")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunningSkiffds(t *testing.T) {
	procDir := t.TempDir()
	base := t.TempDir()
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(dataDir, link); err != nil {
		t.Fatal(err)
	}
	fakeProc(t, procDir, "100", "/", "skiffd", "dev", "--data-dir", dataDir)
	fakeProc(t, procDir, "101", base, "/opt/skiff/skiffd", "agent", "--data-dir", "data")         // relative to its cwd
	fakeProc(t, procDir, "102", "/", "skiffd", "server", "--data-dir="+link+"/")                  // through a symlink
	fakeProc(t, procDir, "103", "/", "skiffd", "dev", "--data-dir", filepath.Join(base, "other")) // another node
	fakeProc(t, procDir, "104", "/", "skiffd", "reset", "--data-dir", dataDir)                    // not a daemon
	fakeProc(t, procDir, "105", "/", "sleep", "--data-dir", dataDir)
	fakeProc(t, procDir, "self", "/", "skiffd", "dev", "--data-dir", dataDir) // not a PID
	got := runningSkiffds(procDir, dataDir)
	var pids []int
	for _, p := range got {
		pids = append(pids, p.pid)
	}
	if want := []int{100, 101, 102}; !equalInts(pids, want) {
		t.Errorf("running skiffds %v, want %v", pids, want)
	}
	if len(runningSkiffds(procDir, filepath.Join(base, "none"))) != 0 {
		t.Errorf("found skiffds for a data dir none runs on")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckResetDataDir(t *testing.T) {
	base := t.TempDir()
	skiff := filepath.Join(base, "skiff")
	foreign := filepath.Join(base, "home")
	file := filepath.Join(base, "file")
	for _, d := range []string{filepath.Join(skiff, "pki"), foreign, filepath.Join(base, "empty")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{file, filepath.Join(foreign, ".bashrc"), filepath.Join(skiff, "skiffd.log")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		dir, wantErr string
	}{
		{skiff, ""},
		{filepath.Join(base, "empty"), ""},
		{filepath.Join(base, "missing"), ""},
		{"/", "refusing to reset the root directory"},
		{foreign, "does not look like skiffd's"},
		{file, "not a directory"},
	} {
		err := checkResetDataDir(tc.dir)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("checkResetDataDir(%s) = %v, want %q", tc.dir, err, tc.wantErr)
		}
	}
}

// newDataDir is a data dir as skiffd leaves it, with a marker file to
// check that reset did not touch it.
func newDataDir(t *testing.T) (dir, marker string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	marker = filepath.Join(dir, "pki", "ca.crt")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, marker
}

// Reset refuses, and changes nothing, while a skiffd runs on the data dir,
// also with --force.
func TestResetRefusesWhileSkiffdRuns(t *testing.T) {
	dataDir, marker := newDataDir(t)
	procDir := t.TempDir()
	fakeProc(t, procDir, "4242", "/", "/usr/bin/skiffd", "dev", "--data-dir", dataDir)
	var out bytes.Buffer
	err := Reset(context.Background(), ResetOptions{
		Options: Options{DataDir: dataDir}, Force: true, Out: &out, procDir: procDir,
	})
	if err == nil || !strings.Contains(err.Error(), "skiffd is running with data dir "+dataDir+" (PID 4242: /usr/bin/skiffd dev --data-dir") ||
		!strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("error %v, want a refusal naming PID 4242", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reset touched the data dir: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("output %q, want none", out.String())
	}
}

// A skiffd not found by its command line (one embedded in another
// program) is found by etcd's lock on its database.
func TestResetRefusesWhileEtcdIsOpen(t *testing.T) {
	dataDir, marker := newDataDir(t)
	db := filepath.Join(dataDir, "etcd", "member", "snap", "db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(db)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	err = Reset(context.Background(), ResetOptions{Options: Options{DataDir: dataDir}, Force: true, Out: io.Discard, procDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "is in use, a skiffd must be running with data dir") {
		t.Fatalf("error %v, want a refusal", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reset touched the data dir: %v", err)
	}
}

// Without a terminal, reset needs --force; a "no" changes nothing.
func TestResetConfirmation(t *testing.T) {
	dataDir, marker := newDataDir(t)
	err := Reset(context.Background(), ResetOptions{
		Options: Options{DataDir: dataDir}, In: strings.NewReader("y\n"), Out: io.Discard, procDir: t.TempDir(),
	})
	if err == nil || !strings.Contains(err.Error(), "standard input is not a terminal") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("error %v, want one asking for --force", err)
	}
	var out bytes.Buffer
	err = Reset(context.Background(), ResetOptions{
		Options: Options{DataDir: dataDir}, In: strings.NewReader("n\n"), Out: &out, procDir: t.TempDir(),
		isTerminal: func(io.Reader) bool { return true },
	})
	if !errors.Is(err, errNotConfirmed) {
		t.Fatalf("error %v, want %v", err, errNotConfirmed)
	}
	if !strings.Contains(out.String(), "[reset] Are you sure you want to proceed? [y/N]: ") {
		t.Errorf("no question in the output:\n%s", out.String())
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("reset touched the data dir: %v", err)
	}
}
