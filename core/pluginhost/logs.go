package pluginhost

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skiffhq/skiff/sdk/base"
)

// LogOptions select what Logs returns.
type LogOptions struct {
	// Follow keeps the reader open and returns what the plugin logs next,
	// until ctx ends (or the reader is closed).
	Follow bool
	// TailLines, when >= 0, starts at the last N lines; < 0 is everything.
	TailLines int64
}

// followPoll is how often a followed log is checked for new data.
const followPoll = 200 * time.Millisecond

// Logs reads the log of the plugin of kind (`skiffctl plugin logs`).
func (h *Host) Logs(ctx context.Context, kind base.Kind, opts LogOptions) (io.ReadCloser, error) {
	h.mu.Lock()
	_, ok := h.plugins[kind]
	h.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no %s plugin runs here: %w", kind, base.ErrNotFound)
	}
	return OpenLog(ctx, h.LogPath(kind), opts)
}

// OpenLog opens a plugin log file as Logs does.
func OpenLog(ctx context.Context, path string, opts LogOptions) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin log: %w", err)
	}
	if opts.TailLines >= 0 {
		off, err := tailOffset(f, opts.TailLines)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("plugin log %s: %w", path, err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	if !opts.Follow {
		return f, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	return &follower{f: f, ctx: ctx, cancel: cancel}, nil
}

// tailOffset is the offset of the start of the last n lines of f.
func tailOffset(f *os.File, n int64) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if n == 0 {
		return size, nil
	}
	const chunk = 32 << 10
	end := size
	// A final newline ends the last line; it does not start another.
	var seen int64
	buf := make([]byte, chunk)
	for end > 0 {
		start := max(0, end-chunk)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			if start+int64(i) == size-1 {
				continue // the newline ending the file
			}
			seen++
			if seen == n {
				return start + int64(i) + 1, nil
			}
		}
		end = start
	}
	return 0, nil
}

// follower reads a file and, at its end, waits for more, like tail -f.
type follower struct {
	f      *os.File
	ctx    context.Context
	cancel context.CancelFunc
}

func (r *follower) Read(p []byte) (int, error) {
	for {
		n, err := r.f.Read(p)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		select {
		case <-r.ctx.Done():
			return 0, io.EOF
		case <-time.After(followPoll):
		}
	}
}

func (r *follower) Close() error {
	r.cancel()
	return r.f.Close()
}
