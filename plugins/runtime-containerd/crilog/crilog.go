// Package crilog is the CRI container log format and the invocation of
// skiff's log driver: what the log driver (plugins/runtime-containerd/logdriver,
// the skiff-log-driver binary) writes and how the runtime plugin starts it,
// and what the runtime plugin reads back for ContainerLogs.
//
// It imports only the standard library, so that the log driver, one process
// per running container, stays small and starts fast.
//
// # Format
//
// One record per line: "<RFC3339Nano time, UTC> <stdout|stderr> <F|P> <text>\n".
// A line of output longer than MaxRecordText is split into P (partial)
// records ended by an F (full) one. Output at EOF without a final newline is
// an F record. The time is when the driver read the line.
package crilog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Streams and tags of records.
const (
	Stdout     = "stdout"
	Stderr     = "stderr"
	TagFull    = "F"
	TagPartial = "P"
)

// MaxRecordText is the most text one record holds.
const MaxRecordText = 16 << 10

// Writer appends records to an io.Writer. Each record is a single Write, so
// records of the two streams never interleave within a line, and appends to
// an O_APPEND file are atomic. It is safe for concurrent use.
type Writer struct {
	// Now gives the records' times; time.Now unless a test sets it before
	// the first record.
	Now func() time.Time

	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer appending to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, Now: time.Now}
}

// Record writes one record of stream, an F record or, if partial, a P one.
// text must not hold a newline.
func (cw *Writer) Record(stream string, partial bool, text []byte) error {
	tag := TagFull
	if partial {
		tag = TagPartial
	}
	cw.mu.Lock()
	defer cw.mu.Unlock()
	cw.buf = cw.Now().UTC().AppendFormat(cw.buf[:0], time.RFC3339Nano)
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

// CopyStream turns the output read from r into records of stream until r
// ends (io.EOF or io.ErrClosedPipe, which are not errors). Text left
// without a newline at the end becomes an F record.
func (cw *Writer) CopyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxRecordText)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := cw.Record(stream, false, line[:len(line)-1]); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := cw.Record(stream, true, line); werr != nil {
				return werr
			}
		default:
			if len(line) > 0 {
				if werr := cw.Record(stream, false, line); werr != nil {
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

// Record is one parsed log line. Its slices point into the parsed line.
type Record struct {
	Time    []byte // as written
	Stream  string
	Partial bool
	Text    []byte
}

// ParseRecord parses one line of a CRI log, without its newline.
func ParseRecord(line []byte) (Record, error) {
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return Record{}, fmt.Errorf("log line %q: no stream", line)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return Record{}, fmt.Errorf("log line %q: no tag", line)
	}
	tag, text, _ := bytes.Cut(rest, []byte{' '})
	if string(tag) != TagFull && string(tag) != TagPartial {
		return Record{}, fmt.Errorf("log line %q: tag %q is neither F nor P", line, tag)
	}
	return Record{Time: ts, Stream: string(stream), Partial: string(tag) == TagPartial, Text: text}, nil
}

// LineAssembler turns records back into the text the container wrote, one
// logical line at a time, joining P records to the F record that ends them,
// per stream.
type LineAssembler struct {
	timestamps bool
	pending    map[string][]byte // stream -> text of partial records so far
	firstTime  map[string][]byte // stream -> time of its first partial record
}

// NewLineAssembler returns a LineAssembler; with timestamps, each line it
// returns starts with the time of its first record and a space.
func NewLineAssembler(timestamps bool) *LineAssembler {
	return &LineAssembler{timestamps: timestamps, pending: map[string][]byte{}, firstTime: map[string][]byte{}}
}

// Add takes one record and returns a whole line (with its newline) when the
// record completes one, else nil. Malformed lines are passed through as
// they are. The line returned is the caller's.
func (a *LineAssembler) Add(raw []byte) []byte {
	rec, err := ParseRecord(raw)
	if err != nil {
		return append(append([]byte{}, raw...), '\n')
	}
	if _, ok := a.firstTime[rec.Stream]; !ok {
		a.firstTime[rec.Stream] = append([]byte{}, rec.Time...)
	}
	a.pending[rec.Stream] = append(a.pending[rec.Stream], rec.Text...)
	if rec.Partial {
		return nil
	}
	var out []byte
	if a.timestamps {
		out = append(append(out, a.firstTime[rec.Stream]...), ' ')
	}
	out = append(append(out, a.pending[rec.Stream]...), '\n')
	delete(a.pending, rec.Stream)
	delete(a.firstTime, rec.Stream)
	return out
}
