package containerdruntime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The CRI log format: one record per line,
// "<RFC3339Nano time> <stdout|stderr> <F|P> <text>\n". A line of output
// longer than maxRecordText is split into P (partial) records ended by an F
// (full) one.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
	tagFull      = "F"
	tagPartial   = "P"

	maxRecordText = 16 << 10
)

// criWriter appends records to w. Each record is a single Write, so records
// of the two streams never interleave within a line, and appends of an
// O_APPEND file are atomic.
type criWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
}

func newCRIWriter(w io.Writer) *criWriter {
	return &criWriter{w: w, now: time.Now}
}

func (cw *criWriter) record(stream, tag string, text []byte) error {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.buf = cw.now().UTC().AppendFormat(cw.buf[:0], time.RFC3339Nano)
	cw.buf = append(cw.buf, ' ')
	cw.buf = append(cw.buf, stream...)
	cw.buf = append(cw.buf, ' ')
	cw.buf = append(cw.buf, tag...)
	cw.buf = append(cw.buf, ' ')
	cw.buf = append(cw.buf, text...)
	cw.buf = append(cw.buf, '\n')
	_, err := cw.w.Write(cw.buf)
	return err
}

// copyStream turns the output read from r into records of stream until r
// ends. Text left without a newline at the end becomes an F record.
func (cw *criWriter) copyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxRecordText)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := cw.record(stream, tagFull, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := cw.record(stream, tagPartial, line); werr != nil {
				return werr
			}
		default:
			if len(line) > 0 {
				if werr := cw.record(stream, tagFull, line); werr != nil {
					return werr
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return fmt.Errorf("reading %s: %w", stream, err)
		}
	}
}

// record is one parsed log line.
type record struct {
	time    []byte // as written
	stream  string
	partial bool
	text    []byte
}

// parseRecord parses one line of a CRI log, without its newline.
func parseRecord(line []byte) (record, error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return record{}, fmt.Errorf("log line %q: no stream", line)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return record{}, fmt.Errorf("log line %q: no tag", line)
	}
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	if string(tag) != tagFull && string(tag) != tagPartial {
		return record{}, fmt.Errorf("log line %q: tag %q is neither F nor P", line, tag)
	}
	return record{time: ts, stream: string(stream), partial: string(tag) == tagPartial, text: text}, nil
}

// lineAssembler turns records back into the text the container wrote, one
// logical line at a time, joining P records to the F record that ends them,
// per stream.
type lineAssembler struct {
	timestamps bool
	pending    map[string][]byte // stream -> text of partial records so far
	firstTime  map[string][]byte // stream -> time of its first partial record
}

func newLineAssembler(timestamps bool) *lineAssembler {
	return &lineAssembler{timestamps: timestamps, pending: map[string][]byte{}, firstTime: map[string][]byte{}}
}

// add takes one record and returns a whole line (with its newline) when the
// record completes one, else nil. Malformed lines are passed through as
// they are.
func (a *lineAssembler) add(raw []byte) []byte {
	rec, err := parseRecord(raw)
	if err != nil {
		return append(append([]byte{}, raw...), '\n')
	}
	if _, ok := a.firstTime[rec.stream]; !ok {
		a.firstTime[rec.stream] = append([]byte{}, rec.time...)
	}
	a.pending[rec.stream] = append(a.pending[rec.stream], rec.text...)
	if rec.partial {
		return nil
	}
	var out []byte
	if a.timestamps {
		out = append(append(out, a.firstTime[rec.stream]...), ' ')
	}
	out = append(append(out, a.pending[rec.stream]...), '\n')
	delete(a.pending, rec.stream)
	delete(a.firstTime, rec.stream)
	return out
}
