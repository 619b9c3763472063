package rawexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/skiffhq/skiff/sdk/runtime"
)

// ContainerLogs implements runtime.Runtime: it reads the CRI log file and
// gives back the text the container wrote, partial records joined.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	c, cdir, err := r.container(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(c.LogPath)
	if errors.Is(err, os.ErrNotExist) && !opts.Follow {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: log: %w", id, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		pw.CloseWithError(streamLog(ctx, f, c.LogPath, cdir, opts, pw))
	}()
	return &logReader{PipeReader: pr, cancel: cancel}, nil
}

type logReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logReader) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}

// logLine is one line of the container's output: partial records joined.
type logLine struct {
	time time.Time
	text string
}

func (l logLine) format(timestamps bool) string {
	if timestamps {
		return l.time.Format(time.RFC3339Nano) + " " + l.text + "\n"
	}
	return l.text + "\n"
}

// lineParser turns CRI records into lines.
type lineParser struct {
	partial map[string]*strings.Builder
	first   map[string]time.Time
}

func (p *lineParser) parse(record string) (logLine, bool) {
	ts, rest, ok1 := strings.Cut(record, " ")
	stream, rest, ok2 := strings.Cut(rest, " ")
	tag, text, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 {
		return logLine{}, false
	}
	when, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return logLine{}, false
	}
	if p.partial == nil {
		p.partial, p.first = map[string]*strings.Builder{}, map[string]time.Time{}
	}
	b := p.partial[stream]
	if b == nil {
		b = &strings.Builder{}
		p.partial[stream] = b
		p.first[stream] = when
	}
	b.WriteString(text)
	if tag == "P" {
		return logLine{}, false
	}
	line := logLine{time: p.first[stream], text: b.String()}
	delete(p.partial, stream)
	return line, true
}

// streamLog writes the log's lines to w: the last TailLines of what is
// there, then, with Follow, what comes until the container has exited and
// its log is drained, or ctx ends.
func streamLog(ctx context.Context, f *os.File, path, cdir string, opts runtime.LogOptions, w io.Writer) error {
	for f == nil { // following a log that is not there yet
		if _, exited := state(cdir); exited != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
		var err error
		if f, err = os.Open(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var p lineParser
	var pending string // a record not yet ended by its newline
	// readAvailable parses every complete record there is now.
	readAvailable := func(emit func(logLine) error) error {
		for {
			chunk, err := br.ReadString('\n')
			pending += chunk
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			record := strings.TrimSuffix(pending, "\n")
			pending = ""
			if line, ok := p.parse(record); ok {
				if err := emit(line); err != nil {
					return err
				}
			}
		}
	}
	var lines []logLine
	if err := readAvailable(func(l logLine) error { lines = append(lines, l); return nil }); err != nil {
		return err
	}
	if opts.TailLines >= 0 && int64(len(lines)) > opts.TailLines {
		lines = lines[int64(len(lines))-opts.TailLines:]
	}
	write := func(l logLine) error {
		_, err := io.WriteString(w, l.format(opts.Timestamps))
		return err
	}
	for _, l := range lines {
		if err := write(l); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	for {
		// Checked before reading: whatever was written before the exit
		// was recorded is read below.
		_, exited := state(cdir)
		_, gone := os.Stat(cdir) // removed while followed
		if err := readAvailable(write); err != nil {
			return err
		}
		if exited != nil || gone != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}
