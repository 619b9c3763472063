// Package printers renders API objects the way kubectl does: tables with
// kubectl's columns and alignment, and the -o formats (yaml, json, name,
// jsonpath, custom-columns).
package printers

import (
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// kubectl's tabwriter settings (cli-runtime printers.GetNewTabWriter).
const (
	tabMinWidth = 6
	tabWidth    = 4
	tabPadding  = 3
	tabPadChar  = ' '
)

// NewTabWriter returns a tabwriter configured as kubectl configures its own.
func NewTabWriter(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, tabMinWidth, tabWidth, tabPadding, tabPadChar, 0)
}

// Column is one column of a table. Wide columns only show with -o wide.
type Column struct {
	Name string
	Wide bool
}

// Row is one table row; Namespace feeds the NAMESPACE column of -A.
type Row struct {
	Namespace string
	Cells     []string
}

// Table is a set of rows under kubectl-style column definitions.
type Table struct {
	Columns []Column
	Rows    []Row
}

// TableOptions choose how a table is decorated.
type TableOptions struct {
	Wide          bool
	NoHeaders     bool
	WithNamespace bool
	// Kind, when set, prefixes the first cell with "kind/" (kubectl does so
	// when one get shows several kinds).
	Kind string
}

// TablePrinter prints tables. Like kubectl's HumanReadablePrinter it prints
// the header once, with the first non-empty table, so it can be called again
// for each watch event.
type TablePrinter struct {
	Options        TableOptions
	printedHeaders bool
}

// Print writes t to w (normally a tabwriter). It writes nothing for a table
// without rows.
func (p *TablePrinter) Print(w io.Writer, t Table) error {
	if len(t.Rows) == 0 {
		return nil
	}
	var b strings.Builder
	if !p.Options.NoHeaders && !p.printedHeaders {
		b.WriteString(strings.Join(p.header(t.Columns), "\t"))
		b.WriteByte('\n')
	}
	p.printedHeaders = true
	for _, r := range t.Rows {
		b.WriteString(strings.Join(p.cells(t.Columns, r), "\t"))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (p *TablePrinter) header(cols []Column) []string {
	var out []string
	if p.Options.WithNamespace {
		out = append(out, "NAMESPACE")
	}
	for _, c := range cols {
		if c.Wide && !p.Options.Wide {
			continue
		}
		out = append(out, strings.ToUpper(c.Name))
	}
	return out
}

func (p *TablePrinter) cells(cols []Column, r Row) []string {
	var out []string
	if p.Options.WithNamespace {
		out = append(out, r.Namespace)
	}
	for i, c := range cols {
		if c.Wide && !p.Options.Wide {
			continue
		}
		cell := ""
		if i < len(r.Cells) {
			cell = r.Cells[i]
		}
		if i == 0 && p.Options.Kind != "" {
			cell = strings.ToLower(p.Options.Kind) + "/" + cell
		}
		out = append(out, cleanCell(cell))
	}
	return out
}

// cleanCell cuts a cell at its first line break as kubectl does ("..."), and
// turns tabs into spaces so they cannot shift columns.
func cleanCell(s string) string {
	if i := strings.IndexAny(s, "\f\n\r"); i >= 0 {
		s = s[:i] + "..."
	}
	return strings.ReplaceAll(s, "\t", " ")
}

// WatchWriter aligns tab-separated lines like kubectl's tabwriter with
// RememberWidths: each Flush aligns what was written since the last one, and
// column widths never shrink between flushes, so watch output stays aligned.
type WatchWriter struct {
	out    io.Writer
	buf    []byte
	widths []int
}

// NewWatchWriter returns a WatchWriter writing to out.
func NewWatchWriter(out io.Writer) *WatchWriter { return &WatchWriter{out: out} }

// Write buffers p until Flush.
func (w *WatchWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Flush aligns and writes the complete lines buffered so far.
func (w *WatchWriter) Flush() error {
	end := strings.LastIndexByte(string(w.buf), '\n')
	if end < 0 {
		return nil
	}
	text := string(w.buf[:end])
	w.buf = append(w.buf[:0], w.buf[end+1:]...)
	lines := strings.Split(text, "\n")
	rows := make([][]string, len(lines))
	for i, l := range lines {
		rows[i] = strings.Split(l, "\t")
		w.grow(rows[i])
	}
	var b strings.Builder
	for _, cells := range rows {
		for j, c := range cells {
			b.WriteString(c)
			if j < len(cells)-1 {
				b.WriteString(strings.Repeat(string(tabPadChar), w.widths[j]-utf8.RuneCountInString(c)))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w.out, b.String())
	return err
}

// grow widens the remembered columns to fit cells. The last cell of a line
// ends it and is not part of a column, as with text/tabwriter.
func (w *WatchWriter) grow(cells []string) {
	for j := 0; j < len(cells)-1; j++ {
		width := utf8.RuneCountInString(cells[j]) + tabPadding
		if width < tabMinWidth {
			width = tabMinWidth
		}
		if j >= len(w.widths) {
			w.widths = append(w.widths, 0)
		}
		if width > w.widths[j] {
			w.widths[j] = width
		}
	}
}

// Flusher is a writer that aligns on Flush (tabwriter or WatchWriter).
type Flusher interface {
	io.Writer
	Flush() error
}

// orNone is kubectl's "<none>" for an empty cell.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
