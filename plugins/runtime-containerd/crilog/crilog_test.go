package crilog

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func fixedWriter(w io.Writer) *Writer {
	cw := NewWriter(w)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	n := 0
	cw.Now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) }
	return cw
}

func TestCopyStreamWritesCRIRecords(t *testing.T) {
	var buf bytes.Buffer
	cw := fixedWriter(&buf)
	long := strings.Repeat("y", MaxRecordText+10)
	in := "one\n\ntwo words\n" + long + "\nno newline at the end"
	if err := cw.CopyStream(Stdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"2024-01-02T03:04:05.001006Z stdout F one",
		"2024-01-02T03:04:05.002006Z stdout F ",
		"2024-01-02T03:04:05.003006Z stdout F two words",
		"2024-01-02T03:04:05.004006Z stdout P " + long[:MaxRecordText],
		"2024-01-02T03:04:05.005006Z stdout F " + long[MaxRecordText:],
		"2024-01-02T03:04:05.006006Z stdout F no newline at the end",
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("records:\n%s\nwant:\n%s", abbreviate(got), abbreviate(want))
	}
}

func TestCopyStreamEndsAtAClosedPipe(t *testing.T) {
	r, w := io.Pipe()
	go func() {
		w.Write([]byte("last words"))
		w.CloseWithError(io.ErrClosedPipe)
	}()
	var buf bytes.Buffer
	if err := fixedWriter(&buf).CopyStream(Stderr, r); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "2024-01-02T03:04:05.001006Z stderr F last words\n" {
		t.Errorf("records %q", got)
	}
}

func abbreviate(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > 120 {
			lines[i] = fmt.Sprintf("%s...(%d bytes)", l[:120], len(l))
		}
	}
	return strings.Join(lines, "\n")
}

func TestParseRecord(t *testing.T) {
	rec, err := ParseRecord([]byte("2024-01-02T03:04:05Z stderr P a b  c"))
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Time) != "2024-01-02T03:04:05Z" || rec.Stream != "stderr" || !rec.Partial || string(rec.Text) != "a b  c" {
		t.Errorf("parsed %+v", rec)
	}
	if rec, err := ParseRecord([]byte("2024-01-02T03:04:05Z stdout F")); err != nil || len(rec.Text) != 0 {
		t.Errorf("an empty line parsed as %+v, %v", rec, err)
	}
	for _, bad := range []string{"", "nospace", "t stdout", "t stdout X text"} {
		if _, err := ParseRecord([]byte(bad)); err == nil {
			t.Errorf("ParseRecord(%q) succeeded", bad)
		}
	}
}

// TestRoundTrip: what the Writer writes, the LineAssembler gives back.
func TestRoundTrip(t *testing.T) {
	var file bytes.Buffer
	cw := NewWriter(&file)
	long := strings.Repeat("z", 3*MaxRecordText+1)
	in := "a\n" + long + "\n\nend"
	if err := cw.CopyStream(Stdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	a := NewLineAssembler(false)
	var out strings.Builder
	for _, line := range strings.SplitAfter(file.String(), "\n") {
		if line == "" {
			continue
		}
		out.Write(a.Add([]byte(strings.TrimSuffix(line, "\n"))))
	}
	if out.String() != in+"\n" {
		t.Errorf("round trip gave %s", abbreviate(out.String()))
	}
}

func TestLineAssemblerJoinsPartialsPerStream(t *testing.T) {
	a := NewLineAssembler(true)
	var out []string
	for _, l := range []string{
		"t1 stdout P hel",
		"t2 stderr F err",
		"t3 stdout P lo ",
		"t4 stdout F world",
		"garbage",
	} {
		if line := a.Add([]byte(l)); line != nil {
			out = append(out, string(line))
		}
	}
	want := []string{"t2 err\n", "t1 hello world\n", "garbage\n"}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("lines %q, want %q", out, want)
	}
}

func TestDriverArgs(t *testing.T) {
	want := DriverArgs{Path: "/var/log/a b.log", TTY: true}
	var args []string
	for k, v := range want.Query() {
		args = append(args, k, v)
	}
	got, err := ParseDriverArgs(args)
	if err != nil || got != want {
		t.Errorf("parsed %+v, %v; want %+v", got, err, want)
	}
	if got, err := ParseDriverArgs([]string{ArgPath, "/x", ArgMarker, DriverVersion}); err != nil || got.TTY {
		t.Errorf("without tty: %+v, %v", got, err)
	}
	for _, args := range [][]string{
		nil,
		{"-test.v"},
		{ArgPath, "/x"},
		{ArgMarker, "2", ArgPath, "/x"},
		{ArgMarker, DriverVersion, ArgPath},
		{ArgMarker, DriverVersion, ArgPath, ""},
	} {
		if _, err := ParseDriverArgs(args); err == nil {
			t.Errorf("%q taken for a log-driver invocation", args)
		}
	}
}
