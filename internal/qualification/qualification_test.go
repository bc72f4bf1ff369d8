package qualification

import (
	"encoding/csv"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/otpatch/otpatch/internal/domain"
)

var update = flag.Bool("update", false, "write testdata/rockwell-2026-11.xlsx again from rockwell-2026-11.csv")

// writeWorkbook writes the rows of a CSV file as the first sheet of a workbook, below a title
// row and a blank row as vendors' spreadsheets have them, every cell as text.
func writeWorkbook(t *testing.T, csvPath, xlsxPath string) {
	t.Helper()
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	f := excelize.NewFile()
	defer f.Close()
	sheet := "Qualification"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		t.Fatal(err)
	}
	set := func(cell string, v any) {
		if err := f.SetCellValue(sheet, cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("A1", "Patch qualification for Microsoft updates — updated 2026-11-30")
	for i, rec := range recs {
		for j, v := range rec {
			cell, _ := excelize.CoordinatesToCellName(j+1, i+3)
			set(cell, v)
		}
	}
	if err := f.SaveAs(xlsxPath); err != nil {
		t.Fatal(err)
	}
}

// The workbook of the Rockwell-style list reads as its CSV does, the title row skipped and
// rows named by their row in the sheet.
func TestParseRockwellWorkbook(t *testing.T) {
	path := filepath.Join("testdata", "rockwell-2026-11.xlsx")
	if *update {
		writeWorkbook(t, filepath.Join("testdata", "rockwell-2026-11.csv"), path)
	}
	m := mapping(t, "rockwell")
	fromCSV, err := Parse(m, FormatCSV, read(t, "rockwell-2026-11.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(m, FormatXLSX, read(t, "rockwell-2026-11.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, fromCSV) {
		t.Errorf("workbook\n%+v\nCSV\n%+v", got, fromCSV)
	}
	// A bad row is named by its row in the sheet: the header is row 3.
	bad := filepath.Join(t.TempDir(), "bad.xlsx")
	csvBad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(csvBad, []byte("KB,Product,Release,Test Status,Result\nKB1,P,1,Published,Fully\nKB2,P,1,Pending,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeWorkbook(t, csvBad, bad)
	b, _ := os.ReadFile(bad)
	_, err = Parse(m, FormatXLSX, b)
	var pe *Error
	if !errors.As(err, &pe) || len(pe.Faults) != 1 || pe.Faults[0].Where(FormatXLSX) != "row 5: status" {
		t.Errorf("a bad workbook row: %v", err)
	}
	for _, tt := range []struct{ name, data, want string }{
		{"not a workbook", "KB,Product\n", "is not an Excel workbook otpatch can read"},
		{"a CSV's bytes", string(read(t, "rockwell-2026-11.csv")), "is not an Excel workbook"},
	} {
		if _, err := Parse(m, FormatXLSX, []byte(tt.data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapping(t *testing.T, name string) Mapping {
	t.Helper()
	m, ok := MappingNamed(name)
	if !ok {
		t.Fatalf("no mapping %s", name)
	}
	return m
}

// A Rockwell-style list: the test status and the result become the asset owner's statuses,
// a hold keeps the vendor's note as its reason.
func TestParseRockwellList(t *testing.T) {
	got, err := Parse(mapping(t, "rockwell"), FormatCSV, read(t, "rockwell-2026-11.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Qualification{
		{PatchRef: "KB5034441", Product: "FactoryTalk View SE", Release: "13.0", Status: domain.QualQualified},
		{PatchRef: "KB5034441", Product: "FactoryTalk View SE", Release: "12.0", Status: domain.QualPartiallyQualified,
			Reason: `Reboot the HMI server before the clients; see the vendor's note "Client reconnect"`},
		{PatchRef: "KB5034441", Product: "Studio 5000 Logix Designer", Release: "36.00", Status: domain.QualNotQualified, Reason: "Breaks the license activation dialog"},
		{PatchRef: "KB5034439", Product: "FactoryTalk View SE", Release: "13.0", Status: domain.QualUnderTest},
		{PatchRef: "KB5035845", Product: "FactoryTalk View SE", Release: "13.0", Status: domain.QualHeld, Reason: "Held: FactoryTalk Linx loses its OPC UA endpoint after the update"},
		{PatchRef: "KB5035845", Product: "FactoryTalk Linx", Release: "6.40", Status: domain.QualUnderTest},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseGenericJSON(t *testing.T) {
	got, err := Parse(mapping(t, "generic"), FormatJSON, read(t, "generic-2026-11.json"))
	if err != nil {
		t.Fatal(err)
	}
	var statuses []domain.QualificationStatus
	for _, q := range got {
		statuses = append(statuses, q.Status)
	}
	want := []domain.QualificationStatus{domain.QualQualified, domain.QualPartiallyQualified, domain.QualHeld, domain.QualUnderTest}
	if !reflect.DeepEqual(statuses, want) || got[2].Release != domain.AllReleases || got[2].Reason != "Plant freeze until the turnaround ends" {
		t.Errorf("got %+v", got)
	}
}

// Every bad row is named by its line with what is wrong, and nothing is answered.
func TestParseBadRows(t *testing.T) {
	for _, tt := range []struct {
		name, mapping, format, file string
		want                        []string // each fault as "where message-part"
	}{
		{"rockwell csv", "rockwell", FormatCSV, "rockwell-bad.csv", []string{
			"line 3| again (first at line 2)",
			"line 4: update id|is required",
			"line 5: status|\"Pending\" is no test status",
			"line 6: status|needs its result",
			"line 7: release|\"latest\" has no version number",
		}},
		{"generic json", "generic", FormatJSON, "generic-bad.json", []string{
			"entry 2: status|\"hold\" is no status",
			"entry 3: notes|is required when the status is held",
			"entry 4: keys|has no key \"release\"",
			"entry 5: product|must be text",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(mapping(t, tt.mapping), tt.format, read(t, tt.file))
			var pe *Error
			if !errors.As(err, &pe) || got != nil {
				t.Fatalf("got %v, %v; want a refusal", got, err)
			}
			if len(pe.Faults) != len(tt.want) {
				t.Errorf("%d faults, want %d: %+v", len(pe.Faults), len(tt.want), pe.Faults)
			}
			for i, w := range tt.want {
				if i >= len(pe.Faults) {
					break
				}
				where, part, _ := strings.Cut(w, "|")
				f := pe.Faults[i]
				if f.Where(tt.format) != where || !strings.Contains(f.Message, part) {
					t.Errorf("fault %d: %s %s; want %s …%s…", i, f.Where(tt.format), f.Message, where, part)
				}
			}
		})
	}
}

func TestParseWholeListFaults(t *testing.T) {
	rock := mapping(t, "rockwell")
	for _, tt := range []struct {
		name, format string
		data         string
		want         string
	}{
		{"no header", FormatCSV, "", "header is missing"},
		{"a missing column", FormatCSV, "KB,Product,Release,Result\nKB1,P,1,Fully\n", `header has no column "Test Status" or "Status"`},
		{"header only", FormatCSV, "KB,Product,Release,Test Status,Result\n", "file holds no entries"},
		{"short row", FormatCSV, "KB,Product,Release,Test Status,Result\nKB1,P,1\n", "line 2 has 3 cells; the header has 5"},
		{"bad quoting", FormatCSV, "KB,Product,Release,Test Status,Result\nKB1,\"P,1,Held,x\n", "is not valid CSV"},
		{"not json", FormatJSON, "{", "is not a JSON array of objects"},
		{"an object", FormatJSON, `{"KB":"1"}`, "found object where an array of objects belongs"},
		{"two arrays", FormatJSON, `[] []`, "has more after the JSON array"},
		{"not utf-8", FormatCSV, "KB\xff", "is not UTF-8"},
		{"unknown format", "xml", "<a/>", "format must be csv, json or xlsx"},
		{"too large", FormatCSV, strings.Repeat("x", MaxBytes+1), "file is 4194305 bytes"},
		{"a long cell", FormatCSV, "KB,Product,Release,Test Status,Result,Notes\nKB1,P,1,Held,," + strings.Repeat("n", MaxCell+1) + "\n", "line 2: notes is 2001 characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(rock, tt.format, []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want …%s…", err, tt.want)
			}
		})
	}
	var rows strings.Builder
	rows.WriteString("KB,Product,Release,Test Status,Result\n")
	for range MaxRows + 1 {
		rows.WriteString("K,P,1,Held,\n")
	}
	_, err := Parse(rock, FormatCSV, []byte(rows.String()))
	var pe *Error
	if !errors.As(err, &pe) || !pe.TooLarge {
		t.Errorf("a list of %d rows: %v, want too large", MaxRows+1, err)
	}
}

// FuzzParse: no input makes the reader panic, and what it accepts is valid entries, each
// stated once.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"rockwell-2026-11.csv", "rockwell-bad.csv", "generic-2026-11.json", "generic-bad.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".json"))
	}
	f.Add([]byte("update_id,product,release,status\nKB1,P,*,held\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		format := FormatCSV
		if isJSON {
			format = FormatJSON
		}
		// A workbook is a zip archive: its reader is fuzzed through the same bytes.
		if len(data) > 0 && data[0] == 'P' {
			format = FormatXLSX
		}
		for _, m := range Mappings() {
			qs, err := Parse(m, format, data)
			if err != nil {
				if qs != nil {
					t.Fatalf("%s: entries answered with an error", m.Name)
				}
				continue
			}
			seen := map[string]bool{}
			for _, q := range qs {
				c := q
				if err := c.Validate(); err != nil {
					t.Fatalf("%s: accepted an invalid entry %+v: %v", m.Name, q, err)
				}
				k := strings.ToLower(q.PatchRef + "\x00" + q.Product + "\x00" + q.Release)
				if seen[k] {
					t.Fatalf("%s: %+v answered twice", m.Name, q)
				}
				seen[k] = true
			}
		}
	})
}
