// Package conformance checks docs/conformance.md against the repository: every test the page
// cites exists, every standard it covers has its section with the rows it must have, and every
// row names its status and at least one test.
package conformance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// standards are the sections docs/conformance.md must have: a "## " heading that names the
// standard, and the rows whose first cell starts with each of these.
var standards = []struct {
	heading string
	rows    []string
}{
	{"IEC TR 62443-2-3", []string{"1. Information gathering", "2. Supplier qualification", "3. Asset-owner validation on a test bench",
		"4. Backup", "5. Approval for a maintenance window", "6. Deployment in the window", "7. Verification", "8. Rollback", "9. Documentation and evidence"}},
	{"IEC 62443-4-2", []string{"CR 1.1 ", "CR 1.2 ", "CR 1.5 ", "CR 1.7 ", "CR 2.1 ", "CR 2.8 ", "CR 2.9 ", "CR 2.12 ",
		"CR 3.4 ", "CR 3.10 ", "CR 3.12 ", "CR 3.13 ", "CR 7.3 ", "CR 7.4 "}},
	{"NERC CIP-007-6", []string{"R2.1 ", "R2.2 ", "R2.3 ", "R2.4 "}},
	{"ISO/IEC 27001:2022", []string{"5.23 ", "8.8 ", "8.13 ", "8.15 ", "8.32 "}},
}

// statuses are the words the page defines for how far otpatch meets an item.
var statuses = []string{"meets", "partly", "supports"}

// citation is a test named in backquotes: `dir/TestName`, or `TestName` anywhere in the module.
var citation = regexp.MustCompile("`((?:[A-Za-z0-9_.-]+/)*)(Test[A-Z0-9_][A-Za-z0-9_]*)`")

var testFunc = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)

var separator = regexp.MustCompile(`^\|(\s*:?-+:?\s*\|)+\s*$`)

// TestConformanceCitesRealTests reads docs/conformance.md and fails for every cited test that
// is no func TestName( in a _test.go file of the directory it names, for a standard without
// its section or one of its rows, and for a row without a status word or a test.
func TestConformanceCitesRealTests(t *testing.T) {
	root := moduleRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "conformance.md"))
	if err != nil {
		t.Fatalf("read docs/conformance.md: %v", err)
	}
	tests := testsByDir(t, root)
	anywhere := map[string]bool{}
	for _, names := range tests {
		for name := range names {
			anywhere[name] = true
		}
	}

	cited := citation.FindAllStringSubmatch(string(doc), -1)
	if len(cited) == 0 {
		t.Fatal("docs/conformance.md cites no test: each row names the tests that prove it, as `dir/TestName`")
	}
	var missing []string
	seen := map[string]bool{}
	for _, c := range cited {
		dir, name := strings.TrimSuffix(c[1], "/"), c[2]
		if seen[c[1]+name] {
			continue
		}
		seen[c[1]+name] = true
		if dir == "" {
			if !anywhere[name] {
				missing = append(missing, name+" (no func "+name+"( in any _test.go file)")
			}
			continue
		}
		if !tests[dir][name] {
			missing = append(missing, dir+"/"+name+" (no func "+name+"( in "+dir+"/*_test.go)")
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("docs/conformance.md cites tests that do not exist (%d):\n\t%s", len(missing), strings.Join(missing, "\n\t"))
	}

	sections := sectionsOf(string(doc))
	for _, std := range standards {
		i := slices.IndexFunc(sections, func(s section) bool { return strings.Contains(s.heading, std.heading) })
		if i < 0 {
			t.Errorf("docs/conformance.md has no section on %s (a \"## \" heading naming it)", std.heading)
			continue
		}
		rows := sections[i].rows
		for _, want := range std.rows {
			if !slices.ContainsFunc(rows, func(r []string) bool { return strings.HasPrefix(r[0]+" ", want) }) {
				t.Errorf("%s: no row for %q", std.heading, strings.TrimSpace(want))
			}
		}
		for _, r := range rows {
			if len(r) != 4 {
				t.Errorf("%s: row %q has %d cells, want 4 (item, what otpatch does, status, tests)", std.heading, r[0], len(r))
				continue
			}
			if !slices.Contains(statuses, r[2]) {
				t.Errorf("%s: row %q has status %q, want one of %s", std.heading, r[0], r[2], strings.Join(statuses, ", "))
			}
			if !citation.MatchString(r[3]) {
				t.Errorf("%s: row %q cites no test", std.heading, r[0])
			}
		}
	}
}

// moduleRoot is the directory of go.mod, found walking up from the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// testsByDir maps each directory (slash-separated, relative to root) to the test functions
// its _test.go files declare.
func testsByDir(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(rel)
		for _, m := range testFunc.FindAllSubmatch(src, -1) {
			if out[dir] == nil {
				out[dir] = map[string]bool{}
			}
			out[dir][string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read the module's tests: %v", err)
	}
	return out
}

// section is a "## " heading and the data rows of its tables, each split into trimmed cells.
type section struct {
	heading string
	rows    [][]string
}

func sectionsOf(doc string) []section {
	var out []section
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "## "):
			out = append(out, section{heading: strings.TrimPrefix(line, "## ")})
		case len(out) == 0 || !strings.HasPrefix(line, "|") || separator.MatchString(line):
		case i+1 < len(lines) && separator.MatchString(strings.TrimSpace(lines[i+1])):
			// A table's header row.
		default:
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for j := range cells {
				cells[j] = strings.TrimSpace(cells[j])
			}
			out[len(out)-1].rows = append(out[len(out)-1].rows, cells)
		}
	}
	return out
}
