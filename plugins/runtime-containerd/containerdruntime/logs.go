package containerdruntime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/containerd/containerd/errdefs"

	"github.com/skiffhq/skiff/plugins/runtime-containerd/crilog"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

// logPollInterval is how often a followed log looks for more.
const logPollInterval = 100 * time.Millisecond

// ContainerLogs reads the container's CRI log file back as the text it
// wrote.
func (r *Runtime) ContainerLogs(ctx context.Context, id string, opts runtime.LogOptions) (io.ReadCloser, error) {
	ctx, c, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	l, err := loadContainer(ctx, c, id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(l.labels[labelLogPath])
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", l.what(), err)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer f.Close()
		err := r.streamLog(ctx, c, l, f, opts, pw)
		if err != nil {
			err = fmt.Errorf("logs of %s: %w", l.what(), err)
		}
		pw.CloseWithError(err)
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// streamLog writes the log's lines to w: the last TailLines of what the file
// has now, then, when following, what comes until the container is done.
func (r *Runtime) streamLog(ctx context.Context, c *conn, l loaded, f io.Reader, opts runtime.LogOptions, w io.Writer) error {
	asm := crilog.NewLineAssembler(opts.Timestamps)
	lr := &lineReader{r: f, buf: make([]byte, 32<<10)}
	if err := catchUp(lr, asm, opts.TailLines, w); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}
	emit := func(raw []byte) error {
		if line := asm.Add(raw); line != nil {
			_, err := w.Write(line)
			return err
		}
		return nil
	}
	for {
		// Look first, read second: once the container is done, one more
		// read gets everything it wrote.
		done := r.logFinished(ctx, c, l.ctr.ID())
		if err := lr.each(emit); err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(logPollInterval):
		}
	}
}

// catchUp writes the last tail lines of what the file has now (all of it
// when tail < 0).
func catchUp(lr *lineReader, asm *crilog.LineAssembler, tail int64, w io.Writer) error {
	if tail < 0 {
		return lr.each(func(raw []byte) error {
			if line := asm.Add(raw); line != nil {
				_, err := w.Write(line)
				return err
			}
			return nil
		})
	}
	var last [][]byte
	err := lr.each(func(raw []byte) error {
		if line := asm.Add(raw); line != nil {
			last = append(last, line)
			if int64(len(last)) > 2*tail+64 {
				last = append(last[:0:0], last[int64(len(last))-tail:]...)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if int64(len(last)) > tail {
		last = last[int64(len(last))-tail:]
	}
	for _, line := range last {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// logFinished reports whether nothing more will be written to the
// container's log: it is gone, or it exited and its task (and with it the
// log driver) is gone.
func (r *Runtime) logFinished(ctx context.Context, c *conn, id string) bool {
	l, err := loadContainer(ctx, c, id)
	if errors.Is(err, base.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	st, err := r.status(ctx, l)
	if err != nil || st.State != runtime.StateExited {
		return false
	}
	_, err = l.ctr.Task(ctx, nil)
	return errdefs.IsNotFound(err)
}

// lineReader reads whole lines from a file that may still be growing; a
// line without its newline yet waits for the next call.
type lineReader struct {
	r    io.Reader
	buf  []byte
	rest []byte
}

// each calls fn with every complete line (without its newline) that can be
// read now.
func (lr *lineReader) each(fn func([]byte) error) error {
	for {
		n, err := lr.r.Read(lr.buf)
		lr.rest = append(lr.rest, lr.buf[:n]...)
		for {
			i := bytes.IndexByte(lr.rest, '\n')
			if i < 0 {
				break
			}
			if ferr := fn(lr.rest[:i]); ferr != nil {
				return ferr
			}
			lr.rest = lr.rest[i+1:]
		}
		if len(lr.rest) == 0 {
			lr.rest = nil // let the backing array go
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
