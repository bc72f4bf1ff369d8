package csvsafe_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"

	"github.com/otpatch/otpatch/internal/csvsafe"
)

func TestCell(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"equals", `=HYPERLINK("http://evil.example","x")`, `'=HYPERLINK("http://evil.example","x")`},
		{"plus", "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"minus", "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"at", "@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"tab", "\t=1+1", "'\t=1+1"},
		{"carriage return", "\r=1+1", "'\r=1+1"},
		{"minus alone", "-", "'-"},
		{"negative number", "-5", "-5"},
		{"signed decimal", "+0.25", "+0.25"},
		{"number with exponent", "-1e5", "'-1e5"},
		{"trailing point", "-5.", "'-5."},
		{"two points", "-1.2.3", "'-1.2.3"},
		{"plain text", "Packaging line", "Packaging line"},
		{"formula later in the cell", "a=1+1", "a=1+1"},
		{"leading space", " =1+1", " =1+1"},
		{"empty", "", ""},
		{"unsigned number", "42", "42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := csvsafe.Cell(tc.in); got != tc.want {
				t.Errorf("Cell(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriterNeutralisesEveryCell(t *testing.T) {
	var buf bytes.Buffer
	w := csvsafe.NewWriter(&buf)
	if err := w.Write([]string{"site", "assets"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAll([][]string{{"=1+1", "-3"}, {"@x", "+y"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"site", "assets"}, {"'=1+1", "-3"}, {"'@x", "'+y"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("rows = %q, want %q", rows, want)
	}
}
