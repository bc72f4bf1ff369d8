package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/otpatch/otpatch/internal/store"
)

// TestCSVExportsNeutraliseFormulas names a site and an audit actor like spreadsheet formulas
// and checks that the CSV exports carry them as text: prefixed with a single quote, so a
// spreadsheet shows the name instead of running it.
func TestCSVExportsNeutraliseFormulas(t *testing.T) {
	e := newEnv(t, envOptions{})
	const evil = `=HYPERLINK("http://evil.example","x")`
	var site store.Site
	if code := e.call("POST", "/api/v1/sites", e.tokens.Engineer, map[string]string{"name": evil}, &site); code != http.StatusCreated {
		t.Fatalf("create site: %d", code)
	}

	t.Run("compliance sites", func(t *testing.T) {
		rows := e.getCSV("/api/v1/compliance/sites?format=csv", e.tokens.Auditor)
		col := slices.Index(rows[0], "site_name")
		if col < 0 {
			t.Fatalf("no site_name column in %q", rows[0])
		}
		var found bool
		for _, r := range rows[1:] {
			if r[0] != site.ID {
				continue
			}
			found = true
			if r[col] != "'"+evil {
				t.Errorf("site name cell = %q, want %q", r[col], "'"+evil)
			}
		}
		if !found {
			t.Fatalf("site %s is not in the CSV: %q", site.ID, rows)
		}
		for _, r := range rows {
			for _, c := range r {
				if c != "" && slices.Contains([]byte("=+@\t\r"), c[0]) {
					t.Errorf("cell %q starts a formula", c)
				}
			}
		}
	})

	t.Run("audit export", func(t *testing.T) {
		if _, err := e.store.Append(context.Background(), store.Event{Actor: "@SUM(1+1)*cmd|' /C calc'!A0", Role: "engineer", Action: "test.csv",
			SubjectType: "site", SubjectID: "-2+3+cmd"}); err != nil {
			t.Fatal(err)
		}
		rows := e.getCSV("/api/v1/audit/export?format=csv&action=test.csv", e.tokens.Auditor)
		if len(rows) != 2 {
			t.Fatalf("audit CSV = %q", rows)
		}
		actor, subject := rows[1][slices.Index(rows[0], "actor")], rows[1][slices.Index(rows[0], "subject_id")]
		if actor != "'@SUM(1+1)*cmd|' /C calc'!A0" || subject != "'-2+3+cmd" {
			t.Errorf("actor cell %q, subject cell %q: not neutralised", actor, subject)
		}
	})
}
