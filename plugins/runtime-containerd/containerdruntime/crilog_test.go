package containerdruntime

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func fixedWriter(w io.Writer) *criWriter {
	cw := newCRIWriter(w)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	n := 0
	cw.now = func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) }
	return cw
}

func TestCopyStreamWritesCRIRecords(t *testing.T) {
	var buf bytes.Buffer
	cw := fixedWriter(&buf)
	long := strings.Repeat("y", maxRecordText+10)
	in := "one\n\ntwo words\n" + long + "\nno newline at the end"
	if err := cw.copyStream(streamStdout, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"2024-01-02T03:04:05.001006Z stdout F one",
		"2024-01-02T03:04:05.002006Z stdout F ",
		"2024-01-02T03:04:05.003006Z stdout F two words",
		"2024-01-02T03:04:05.004006Z stdout P " + long[:maxRecordText],
		"2024-01-02T03:04:05.005006Z stdout F " + long[maxRecordText:],
		"2024-01-02T03:04:05.006006Z stdout F no newline at the end",
	}, "\n") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("records:\n%s\nwant:\n%s", abbreviate(got), abbreviate(want))
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
	rec, err := parseRecord([]byte("2024-01-02T03:04:05Z stderr P a b  c"))
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.time) != "2024-01-02T03:04:05Z" || rec.stream != "stderr" || !rec.partial || string(rec.text) != "a b  c" {
		t.Errorf("parsed %+v", rec)
	}
	if rec, err := parseRecord([]byte("2024-01-02T03:04:05Z stdout F")); err != nil || len(rec.text) != 0 {
		t.Errorf("an empty line parsed as %+v, %v", rec, err)
	}
	for _, bad := range []string{"", "nospace", "t stdout", "t stdout X text"} {
		if _, err := parseRecord([]byte(bad)); err == nil {
			t.Errorf("parseRecord(%q) succeeded", bad)
		}
	}
}

func TestLineAssemblerJoinsPartialsPerStream(t *testing.T) {
	a := newLineAssembler(true)
	var out []string
	for _, l := range []string{
		"t1 stdout P hel",
		"t2 stderr F err",
		"t3 stdout P lo ",
		"t4 stdout F world",
		"garbage",
	} {
		if line := a.add([]byte(l)); line != nil {
			out = append(out, string(line))
		}
	}
	want := []string{"t2 err\n", "t1 hello world\n", "garbage\n"}
	if fmt.Sprint(out) != fmt.Sprint(want) {
		t.Errorf("lines %q, want %q", out, want)
	}
}

func TestCatchUpTail(t *testing.T) {
	var file bytes.Buffer
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&file, "t stdout F %d\n", i)
	}
	for _, tc := range []struct {
		tail int64
		want string
	}{{0, ""}, {1, "300\n"}, {3, "298\n299\n300\n"}, {-1, ""}} {
		var out bytes.Buffer
		lr := &lineReader{r: bytes.NewReader(file.Bytes()), buf: make([]byte, 7)}
		if err := catchUp(lr, newLineAssembler(false), tc.tail, &out); err != nil {
			t.Fatal(err)
		}
		if tc.tail < 0 {
			if n := strings.Count(out.String(), "\n"); n != 300 {
				t.Errorf("tail -1 gave %d lines, want 300", n)
			}
			continue
		}
		if out.String() != tc.want {
			t.Errorf("tail %d = %q, want %q", tc.tail, out.String(), tc.want)
		}
	}
}

func TestLineReaderKeepsAnUnfinishedLine(t *testing.T) {
	r, w := io.Pipe()
	lr := &lineReader{r: &eofAtEmpty{r: r}, buf: make([]byte, 64)}
	var got []string
	collect := func(b []byte) error { got = append(got, string(b)); return nil }
	go func() { w.Write([]byte("first\nsec")) }()
	lr.each(collect)
	go func() { w.Write([]byte("ond\n")) }()
	lr.each(collect)
	if fmt.Sprint(got) != "[first second]" {
		t.Errorf("lines %q, want [first second]", got)
	}
}

// eofAtEmpty turns each Write to the pipe into one Read followed by io.EOF,
// like a file being appended to.
type eofAtEmpty struct {
	r       io.Reader
	pending bool
}

func (e *eofAtEmpty) Read(p []byte) (int, error) {
	if e.pending {
		e.pending = false
		return 0, io.EOF
	}
	n, err := e.r.Read(p)
	e.pending = true
	return n, err
}
