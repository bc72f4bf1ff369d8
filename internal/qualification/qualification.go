// Package qualification reads the qualification lists that OT vendors publish for Microsoft
// and other third-party updates on their control systems (CSV, JSON or an Excel workbook) into
// the asset owner's qualification entries (domain.Qualification), through a named column
// mapping.
//
// A mapping names the columns that hold the update id, the product, the product release, the
// status and, for vendors that state a test status and a result apart, the result, and turns
// the vendor's words into the statuses of domain.QualificationStatus. Reading is all or
// nothing: every row is checked, and any bad row refuses the whole list with each bad row
// named by its line (CSV: the file's line, the header being line 1; JSON: the entry's
// position, from 1; a workbook: the row of its first sheet) and what is wrong with it. The mappings are documented in
// docs/qualification-lists.md.
package qualification

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/otpatch/otpatch/internal/domain"
)

// Bounds of a list.
const (
	MaxBytes   = 4 << 20
	MaxRows    = 20000
	MaxColumns = 64
	// MaxCell bounds one cell, in characters.
	MaxCell = 2000
	// MaxErrors bounds the row errors one refusal lists.
	MaxErrors = 1000
)

// Formats of a list.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
	// FormatXLSX is an Excel workbook: its first sheet, whose header is the first row that
	// names the mapping's columns (a title above it is skipped).
	FormatXLSX = "xlsx"
)

// Formats lists the formats a list is read in.
func Formats() []string { return []string{FormatCSV, FormatJSON, FormatXLSX} }

// RowError is what is wrong with one row.
type RowError struct {
	// Line is the row's line in a CSV file (the header is line 1) or its position in a JSON
	// list (from 1); 0 for a fault of the whole list.
	Line    int
	Field   string
	Message string
}

// Where names the row and field.
func (e RowError) Where(format string) string {
	switch {
	case e.Line == 0:
		return e.Field
	case format == FormatJSON && e.Field != "":
		return fmt.Sprintf("entry %d: %s", e.Line, e.Field)
	case format == FormatJSON:
		return fmt.Sprintf("entry %d", e.Line)
	case format == FormatXLSX && e.Field != "":
		return fmt.Sprintf("row %d: %s", e.Line, e.Field)
	case format == FormatXLSX:
		return fmt.Sprintf("row %d", e.Line)
	case e.Field != "":
		return fmt.Sprintf("line %d: %s", e.Line, e.Field)
	}
	return fmt.Sprintf("line %d", e.Line)
}

// Error is a refused list: every bad row (the first MaxErrors), and Rows, how many it has.
type Error struct {
	Format string
	Rows   int
	Faults []RowError
	// TooLarge is set when the list is over a bound (MaxBytes, MaxRows).
	TooLarge bool
}

func (e *Error) Error() string {
	parts := make([]string, 0, min(len(e.Faults), 5))
	for _, f := range e.Faults[:min(len(e.Faults), 5)] {
		parts = append(parts, f.Where(e.Format)+" "+f.Message)
	}
	more := ""
	if len(e.Faults) > 5 {
		more = fmt.Sprintf(" (and %d more)", len(e.Faults)-5)
	}
	return "the qualification list was refused: " + strings.Join(parts, "; ") + more
}

func (e *Error) add(line int, field, format string, args ...any) {
	if len(e.Faults) < MaxErrors {
		e.Faults = append(e.Faults, RowError{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
	}
}

// A row's cells by role, as a mapping finds them.
type row struct {
	line                                           int
	update, product, release, status, result, note string
}

// Mapping says which columns of a vendor's list hold what, and how the vendor's words become
// qualification statuses.
type Mapping struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Vendor is the vendor named as the list's source when the importer names none.
	Vendor string `json:"vendor,omitempty"`
	// The column names each role is read from, matched without regard to case and spaces;
	// the first is the documented one. Result and Notes are optional columns.
	UpdateID []string `json:"update_id"`
	Product  []string `json:"product"`
	Release  []string `json:"release"`
	Status   []string `json:"status"`
	Result   []string `json:"result,omitempty"`
	Notes    []string `json:"notes,omitempty"`
	// Words explains the status words the mapping reads.
	Words  string `json:"words"`
	decide func(status, result, notes string) (domain.QualificationStatus, string, string)
}

// Mappings are the built-in mappings, by name.
func Mappings() []Mapping { return []Mapping{rockwell(), generic()} }

// MappingNames lists the built-in mappings' names.
func MappingNames() []string {
	var out []string
	for _, m := range Mappings() {
		out = append(out, m.Name)
	}
	return out
}

// MappingNamed is the built-in mapping of that name.
func MappingNamed(name string) (Mapping, bool) {
	for _, m := range Mappings() {
		if m.Name == name {
			return m, true
		}
	}
	return Mapping{}, false
}

// word folds a vendor's word for comparison: lower case, runs of spaces, '-' and '_' as one space.
func word(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == '-' || r == '_' || r == '\t' }), " ")
}

// rockwell reads a list in the shape of Rockwell Automation's Microsoft patch qualification:
// a test status (Under test, Published, Held) and, once published, a result (Fully,
// Partially, Not qualified, Not tested) per update and product release.
func rockwell() Mapping {
	return Mapping{
		Name: "rockwell", Vendor: "Rockwell Automation",
		Description: "A test status and a result per Microsoft update (KB) and product release, as Rockwell Automation publishes its patch qualification",
		UpdateID:    []string{"KB", "KB Article", "KB Number", "Update"},
		Product:     []string{"Product"},
		Release:     []string{"Release", "Product Release", "Version"},
		Status:      []string{"Test Status", "Status"},
		Result:      []string{"Result", "Qualification", "Qualification Result"},
		Notes:       []string{"Notes", "Comments"},
		Words: "Test Status Held → held; Under test → under_test; Published with Result Fully (qualified) → qualified, Partially (qualified) → partially_qualified, " +
			"Not qualified → not_qualified, Not tested → under_test. A held or not qualified row without notes gets the reason \"held (not qualified) in the vendor's list\"",
		decide: func(status, result, notes string) (domain.QualificationStatus, string, string) {
			switch word(status) {
			case "held":
				return domain.QualHeld, orReason(notes, "held in the vendor's qualification list"), ""
			case "under test", "not tested":
				return domain.QualUnderTest, notes, ""
			case "published":
			case "":
				return "", "", "is empty: say Under test, Published or Held"
			default:
				return "", "", fmt.Sprintf("%q is no test status of this list: say Under test, Published or Held", status)
			}
			switch word(result) {
			case "fully", "fully qualified", "qualified":
				return domain.QualQualified, notes, ""
			case "partially", "partially qualified":
				return domain.QualPartiallyQualified, notes, ""
			case "not qualified":
				return domain.QualNotQualified, orReason(notes, "not qualified in the vendor's qualification list"), ""
			case "not tested":
				return domain.QualUnderTest, notes, ""
			case "":
				return "", "", "a published update needs its result: Fully, Partially, Not qualified or Not tested (column Result)"
			}
			return "", "", fmt.Sprintf("%q is no result of this list: say Fully, Partially, Not qualified or Not tested (column Result)", result)
		},
	}
}

// generic reads a list in otpatch's own words.
func generic() Mapping {
	var words []string
	for _, s := range domain.QualificationStatuses() {
		words = append(words, string(s))
	}
	return Mapping{
		Name:        "generic",
		Description: "One status per update and product release in otpatch's own words",
		UpdateID:    []string{"update_id", "patch"},
		Product:     []string{"product"},
		Release:     []string{"release"},
		Status:      []string{"status"},
		Notes:       []string{"notes", "reason"},
		Words:       "status is one of " + strings.Join(words, ", ") + " (case, spaces and '-' do not matter); held and not_qualified need notes (the reason)",
		decide: func(status, _, notes string) (domain.QualificationStatus, string, string) {
			s := domain.QualificationStatus(strings.ReplaceAll(word(status), " ", "_"))
			if !s.Valid() {
				return "", "", fmt.Sprintf("%q is no status: say one of %s", status, strings.Join(words, ", "))
			}
			return s, notes, ""
		},
	}
}

func orReason(notes, fallback string) string {
	if strings.TrimSpace(notes) != "" {
		return notes
	}
	return fallback
}

// Parse reads a list in format (csv or json) through m. It answers the entries in the list's
// order, or an *Error naming every bad row; nothing is answered when any row is bad.
func Parse(m Mapping, format string, data []byte) ([]domain.Qualification, error) {
	e := &Error{Format: format}
	if len(data) > MaxBytes {
		e.TooLarge = true
		e.add(0, "file", "is %d bytes, more than the %d a list may have; split it", len(data), MaxBytes)
		return nil, e
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a spreadsheet's byte order mark
	if format != FormatXLSX && !utf8.Valid(data) {
		e.add(0, "file", "is not UTF-8 text; save the list as UTF-8 CSV or JSON")
		return nil, e
	}
	var rows []row
	switch format {
	case FormatXLSX:
		rows = readXLSX(m, data, e)
	case FormatCSV:
		rows = readCSV(m, data, e)
	case FormatJSON:
		rows = readJSON(m, data, e)
	default:
		e.add(0, "format", "must be csv, json or xlsx, got %q", format)
	}
	e.Rows = len(rows)
	if e.TooLarge {
		return nil, e
	}
	if len(rows) == 0 && len(e.Faults) == 0 {
		e.add(0, "file", "holds no entries")
		return nil, e
	}
	out := make([]domain.Qualification, 0, len(rows))
	seen := map[[3]string]int{}
	for _, r := range rows {
		for _, c := range []struct{ field, v string }{{"update id", r.update}, {"product", r.product}, {"release", r.release}, {"status", r.status}, {"result", r.result}, {"notes", r.note}} {
			if n := utf8.RuneCountInString(c.v); n > MaxCell {
				e.add(r.line, c.field, "is %d characters; at most %d", n, MaxCell)
			}
		}
		status, reason, fault := m.decide(r.status, r.result, r.note)
		if fault != "" {
			e.add(r.line, "status", "%s", fault)
			continue
		}
		q := domain.Qualification{PatchRef: r.update, Product: r.product, Release: r.release, Status: status, Reason: reason}
		if err := q.Validate(); err != nil {
			var ve *domain.ValidationError
			if errors.As(err, &ve) {
				for _, f := range ve.Fields {
					field := f.Field
					if field == "patch" {
						field = "update id"
					} else if field == "reason" {
						field = "notes"
					}
					e.add(r.line, field, "%s", f.Message)
				}
			}
			continue
		}
		k := [3]string{strings.ToLower(q.PatchRef), strings.ToLower(q.Product), strings.ToLower(q.Release)}
		if first, dup := seen[k]; dup {
			e.add(r.line, "", "states %s for %s %s again (first at %s); a list states each update and release once", q.PatchRef, q.Product, q.Release, RowError{Line: first}.Where(format))
			continue
		}
		seen[k] = r.line
		out = append(out, q)
	}
	if len(e.Faults) > 0 {
		sort.SliceStable(e.Faults, func(i, j int) bool { return e.Faults[i].Line < e.Faults[j].Line })
		return nil, e
	}
	return out, nil
}

// columns finds each role's column in a header; missing required roles are faults.
func (m Mapping) columns(header []string, e *Error, line int) map[string]int {
	at := map[string]int{}
	for i, h := range header {
		at[word(h)] = i
	}
	cols := map[string]int{}
	for _, role := range []struct {
		name     string
		names    []string
		required bool
	}{{"update", m.UpdateID, true}, {"product", m.Product, true}, {"release", m.Release, true}, {"status", m.Status, true}, {"result", m.Result, m.Name == "rockwell"}, {"notes", m.Notes, false}} {
		found := false
		for _, n := range role.names {
			if i, ok := at[word(n)]; ok {
				cols[role.name], found = i, true
				break
			}
		}
		if !found && role.required {
			e.add(line, "header", "has no column %s (the %s mapping reads it as %s)", quoted(role.names), m.Name, role.name)
		}
	}
	return cols
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}

func (m Mapping) rowOf(line int, cols map[string]int, cell func(int) string) row {
	get := func(role string) string {
		if i, ok := cols[role]; ok {
			return strings.TrimSpace(cell(i))
		}
		return ""
	}
	return row{line: line, update: get("update"), product: get("product"), release: get("release"), status: get("status"), result: get("result"), note: get("notes")}
}

func readCSV(m Mapping, data []byte, e *Error) []row {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			e.add(0, "header", "is missing: the first line names the columns")
		} else {
			e.add(1, "header", "is not valid CSV: %s", csvFault(err))
		}
		return nil
	}
	if len(header) > MaxColumns {
		e.add(1, "header", "has %d columns; at most %d", len(header), MaxColumns)
		return nil
	}
	cols := m.columns(header, e, 1)
	if len(e.Faults) > 0 {
		return nil
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			e.add(line, "", "is not valid CSV: %s", csvFault(err))
			return nil
		}
		line, _ := cr.FieldPos(0)
		if len(rows) == MaxRows {
			e.TooLarge = true
			e.add(line, "", "is past the %d rows a list may have; split it", MaxRows)
			return nil
		}
		if blank(rec) {
			continue
		}
		if len(rec) != len(header) {
			e.add(line, "", "has %d cells; the header has %d", len(rec), len(header))
			continue
		}
		rows = append(rows, m.rowOf(line, cols, func(i int) string { return rec[i] }))
	}
	return rows
}

// csvFault is a CSV reading error without the line the caller names already.
func csvFault(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// readJSON reads a JSON array of objects whose keys are the mapping's column names and whose
// values are strings (numbers are taken as written).
func readJSON(m Mapping, data []byte, e *Error) []row {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw []map[string]any
	if err := dec.Decode(&raw); err != nil {
		e.add(0, "file", "is not a JSON array of objects: %s", jsonFault(err))
		return nil
	}
	if dec.More() {
		e.add(0, "file", "has more after the JSON array; send one array")
		return nil
	}
	if len(raw) > MaxRows {
		e.TooLarge = true
		e.add(0, "file", "has %d entries; at most %d, split it", len(raw), MaxRows)
		return nil
	}
	var rows []row
	for i, obj := range raw {
		n := i + 1
		if obj == nil {
			e.add(n, "", "is not an object")
			continue
		}
		if len(obj) > MaxColumns {
			e.add(n, "", "has %d keys; at most %d", len(obj), MaxColumns)
			continue
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var cells []string
		bad := false
		for _, k := range keys {
			switch v := obj[k].(type) {
			case string:
				cells = append(cells, v)
			case json.Number:
				cells = append(cells, v.String())
			case nil:
				cells = append(cells, "")
			default:
				e.add(n, k, "must be text")
				bad = true
			}
		}
		if bad {
			continue
		}
		sub := &Error{}
		cols := m.columns(keys, sub, n)
		for _, f := range sub.Faults {
			f.Field = strings.Replace(f.Field, "header", "keys", 1)
			f.Message = strings.Replace(f.Message, "has no column", "has no key", 1)
			e.add(f.Line, f.Field, "%s", f.Message)
		}
		if len(sub.Faults) > 0 {
			continue
		}
		rows = append(rows, m.rowOf(n, cols, func(i int) string { return cells[i] }))
	}
	return rows
}

// jsonFault says a JSON error in the reader's terms.
func jsonFault(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("found %s where an array of objects belongs (at byte %d)", te.Value, te.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends early"
	}
	return err.Error()
}

// Bounds of a workbook as it is unpacked.
const (
	maxUnzipped    = 32 << 20
	maxHeaderSeek  = 20
	xlsxFaultLimit = "is not an Excel workbook otpatch can read"
)

// readXLSX reads the first sheet of a workbook: rows before the header (a title, a date) are
// skipped; the header is the first of the first 20 rows that names every column the mapping
// needs. Row numbers are the sheet's.
func readXLSX(m Mapping, data []byte, e *Error) []row {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: maxUnzipped, UnzipXMLSizeLimit: maxUnzipped})
	if err != nil {
		if strings.Contains(err.Error(), "size exceeds") {
			e.TooLarge = true
			e.add(0, "file", "unpacks to more than %d bytes; split it", maxUnzipped)
			return nil
		}
		e.add(0, "file", "%s (save it as .xlsx, or export CSV): %s", xlsxFaultLimit, err)
		return nil
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		e.add(0, "file", "has no sheet")
		return nil
	}
	it, err := f.Rows(sheets[0])
	if err != nil {
		e.add(0, "file", "%s: %s", xlsxFaultLimit, err)
		return nil
	}
	defer it.Close()
	var (
		cols   map[string]int
		width  int
		rows   []row
		n      int
		seeker = &Error{}
	)
	for it.Next() {
		n++
		rec, err := it.Columns()
		if err != nil {
			e.add(n, "", "cannot be read: %s", err)
			return nil
		}
		if cols == nil {
			if blank(rec) {
				continue
			}
			if len(rec) > MaxColumns {
				e.add(n, "header", "has %d columns; at most %d", len(rec), MaxColumns)
				return nil
			}
			seeker.Faults = nil
			c := m.columns(rec, seeker, n)
			if len(seeker.Faults) == 0 {
				cols, width = c, len(rec)
				continue
			}
			if n >= maxHeaderSeek {
				break
			}
			continue
		}
		if len(rows) == MaxRows {
			e.TooLarge = true
			e.add(n, "", "is past the %d rows a list may have; split it", MaxRows)
			return nil
		}
		if blank(rec) {
			continue
		}
		if len(rec) > width && !blank(rec[width:]) {
			e.add(n, "", "has cells right of the header's last column %d", width)
			continue
		}
		rows = append(rows, m.rowOf(n, cols, func(i int) string {
			if i < len(rec) {
				return rec[i]
			}
			return ""
		}))
	}
	if err := it.Error(); err != nil {
		e.add(0, "file", "%s: %s", xlsxFaultLimit, err)
		return nil
	}
	if cols == nil {
		if len(seeker.Faults) > 0 {
			f := seeker.Faults[0]
			e.add(0, "header", "none of the first %d rows of sheet %q names the mapping's columns; the last one tried (row %d) %s", maxHeaderSeek, sheets[0], f.Line, f.Message)
		} else {
			e.add(0, "header", "is missing: sheet %q is empty", sheets[0])
		}
	}
	return rows
}
