package containerdruntime

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
)

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
		if err := catchUp(lr, crilog.NewLineAssembler(false), tc.tail, &out); err != nil {
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
