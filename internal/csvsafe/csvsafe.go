// Package csvsafe writes CSV that spreadsheets open as data, never as formulas: a cell that
// starts with =, +, -, @, a tab or a carriage return is prefixed with a single quote (the
// OWASP advice against CSV injection). A plain signed number such as -5 stays as it is: a
// spreadsheet reads it as that number and nothing else.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Cell returns s as it may be written into a CSV cell.
func Cell(s string) string {
	if s == "" || !formulaStart(s[0]) || signedNumber(s) {
		return s
	}
	return "'" + s
}

func formulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// signedNumber reports whether s is a sign followed by decimal digits with at most one
// decimal point between digits, as -5 or +0.25: nothing a spreadsheet could run.
func signedNumber(s string) bool {
	if len(s) < 2 || (s[0] != '-' && s[0] != '+') {
		return false
	}
	digits, point := 0, false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && digits > 0 && i < len(s)-1:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}

// Writer is a CSV writer that passes every cell through Cell.
type Writer struct {
	w *csv.Writer
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record with every cell neutralised.
func (w *Writer) Write(record []string) error {
	safe := make([]string, len(record))
	for i, c := range record {
		safe[i] = Cell(c)
	}
	return w.w.Write(safe)
}

// WriteAll writes the records, then flushes.
func (w *Writer) WriteAll(records [][]string) error {
	for _, r := range records {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	w.w.Flush()
	return w.w.Error()
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() { w.w.Flush() }

// Error reports an error from a previous Write or Flush.
func (w *Writer) Error() error { return w.w.Error() }
