package ui_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// helixAdvisory is a CSAF 2.0 advisory for the demo plant's Helix switches, first released at
// released; it names a mitigation, no fix.
func helixAdvisory(id, title string, released time.Time) map[string]any {
	at := released.UTC().Format(time.RFC3339)
	return map[string]any{
		"document": map[string]any{
			"category": "csaf_security_advisory", "csaf_version": "2.0", "title": title,
			"publisher": map[string]any{"name": "Helix PSIRT", "category": "vendor", "namespace": "https://helix.example"},
			"tracking":  map[string]any{"id": id, "status": "final", "version": "1", "initial_release_date": at, "current_release_date": at},
		},
		"product_tree": map[string]any{"branches": []any{map[string]any{"category": "vendor", "name": "Helix Industrial Networks", "branches": []any{
			map[string]any{"category": "product_name", "name": "Helix-Switch", "branches": []any{
				map[string]any{"category": "product_version_range", "name": "All versions", "product": map[string]any{"name": "Helix-Switch All versions", "product_id": "HELIX-SW"}},
			}}}}}},
		"vulnerabilities": []any{map[string]any{
			"cve": "CVE-2025-40001", "product_status": map[string]any{"known_affected": []any{"HELIX-SW"}},
			"remediations": []any{map[string]any{"category": "mitigation", "details": "Disable the HTTP management interface", "product_ids": []any{"HELIX-SW"}}},
		}},
	}
}

// TestBrowserCompliance: an auditor opens the compliance page of the demo plant. Before any
// patch or advisory there is no clock, nothing is overdue, and every site shows with its zones
// and assets. Then a qualified patch evaluated for application, an advisory released a year and
// a half ago and never evaluated, and one released five days ago: the page shows each one's
// NERC CIP-007-6 R2 clock (action due in 35 days, evaluation overdue, evaluation due in 30
// days), the overdue evaluation, and the per-site counts the API reports. A vendor finds no
// compliance page and the API refuses him the reports.
func TestBrowserCompliance(t *testing.T) {
	chromium(t)
	start := time.Now()
	s := newStack(t)
	sh := newShots(t)
	for _, path := range []string{"/api/v1/compliance/patches", "/api/v1/compliance/advisories", "/api/v1/compliance/overdue", "/api/v1/compliance/sites"} {
		if !s.hasRoute("get", path) {
			t.Fatalf("the server has no GET %s", path)
		}
	}

	auditor := s.browser(t, "auditor", sh)
	auditor.signIn(s.tokens.Auditor)
	if !auditor.exists(`#nav-list a[href="#/compliance"]`) {
		t.Fatal("the auditor's navigation has no compliance page")
	}
	loaded := `#clocks:not([aria-busy]), #compliance-overdue:not([aria-busy]), #site-compliance:not([aria-busy])`
	openCompliance := func(what string) {
		auditor.run(what, 30*time.Second, chromedp.Navigate(s.url+"/#/"), chromedp.WaitVisible(css(`#by-state`)),
			chromedp.Click(css(`#nav-list a[href="#/compliance"]`)), chromedp.WaitVisible(css(`#site-table`)),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll(%q).length === 3`, loaded)))
	}

	t.Run("before any patch or advisory", func(t *testing.T) {
		openCompliance("open the compliance page of a fresh plant")
		auditor.shot("compliance-empty")
		if got := auditor.text("#clocks"); !strings.Contains(got, "No patch or advisory is tracked yet") {
			t.Errorf("the clocks of a fresh plant: %q", got)
		}
		if got := auditor.text("#compliance-overdue-count"); !strings.Contains(got, "Nothing overdue as of") {
			t.Errorf("the overdue line of a fresh plant: %q", got)
		}
		for _, site := range []string{"site_basel", "site_rotterdam"} {
			sel := `#site-table tr[data-site="` + site + `"]`
			if !auditor.exists(sel) {
				t.Errorf("the site table has no row for %s", site)
			} else if got := auditor.text(sel + " .overdue"); !strings.Contains(got, "none") {
				t.Errorf("%s's overdue cell in a fresh plant: %q", site, got)
			}
		}
	})

	// A qualified patch (released 2026-11-20), evaluated today for application; an advisory of
	// June 2025 never evaluated; one of five days ago.
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<16))
	if code := s.call("PUT", "/api/v1/compliance/patches/"+patchID+"/evaluation", s.tokens.Engineer,
		map[string]string{"decision": "apply", "reason": "authentication bypass reachable from the cell network"}, nil); code != http.StatusOK {
		t.Fatalf("evaluate the patch: %d", code)
	}
	var old, recent struct {
		ID string `json:"id"`
	}
	if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer,
		helixAdvisory("HELIX-SA-2025-003", "Helix switch management interface exposure", time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)), &old); code != http.StatusCreated {
		t.Fatalf("ingest the 2025 advisory: %d", code)
	}
	released := time.Now().UTC().AddDate(0, 0, -5)
	if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer,
		helixAdvisory("HELIX-SA-2026-011", "Helix switch firmware update check", released), &recent); code != http.StatusCreated {
		t.Fatalf("ingest the recent advisory: %d", code)
	}

	openCompliance("open the compliance page")
	auditor.shot("compliance")
	for _, c := range []struct {
		subject string
		want    []string
	}{
		{patchID, []string{"ACME-SA-2026-014", "2026-11-20", "2026-12-25", "apply", "erin-engineer", "action due in 35 days", "pending"}},
		{old.ID, []string{"HELIX-SA-2025-003", "2025-06-02", "2025-07-07", "not evaluated", "evaluation overdue by", "pending"}},
		{recent.ID, []string{"HELIX-SA-2026-011", released.Format(time.DateOnly), "not evaluated", "evaluation due in 30 days"}},
	} {
		sel := `#clock-table tr[data-subject="` + c.subject + `"]`
		if !auditor.exists(sel) {
			t.Errorf("the clock table has no row for %s", c.subject)
			continue
		}
		row := auditor.text(sel)
		for _, w := range c.want {
			if !strings.Contains(row, w) {
				t.Errorf("the clock of %s lacks %q: %q", c.subject, w, row)
			}
		}
	}
	if first := eval[string](auditor, `document.querySelector("#clock-table tbody tr").dataset.subject`); first != old.ID {
		t.Errorf("the first clock is %s, want the overdue advisory %s", first, old.ID)
	}
	if got := auditor.text("#clocks-summary"); !strings.Contains(got, "3 of 3 clocks run") || !strings.Contains(got, "1 past its due date") {
		t.Errorf("the clocks summary: %q", got)
	}

	if got := auditor.text("#compliance-overdue-count"); !strings.Contains(got, "1 evaluation and 0 actions overdue") {
		t.Errorf("the overdue line: %q", got)
	}
	if got := auditor.text(`#overdue-evaluations tr[data-subject="` + old.ID + `"]`); !strings.Contains(got, "HELIX-SA-2025-003") || !strings.Contains(got, "2025-07-07") {
		t.Errorf("the overdue evaluation row: %q", got)
	}
	if auditor.exists("#overdue-actions") {
		t.Errorf("overdue actions are listed: %q", auditor.text("#overdue-actions"))
	}

	var sites struct {
		Items []struct {
			SiteID             string `json:"site_id"`
			SiteName           string `json:"site_name"`
			Assets             int    `json:"assets"`
			Items              int    `json:"patches_and_advisories"`
			Pending            int    `json:"pending"`
			EvaluationsOverdue int    `json:"evaluations_overdue"`
		} `json:"items"`
	}
	if code := s.call("GET", "/api/v1/compliance/sites", s.tokens.Auditor, nil, &sites); code != http.StatusOK || len(sites.Items) == 0 {
		t.Fatalf("GET /api/v1/compliance/sites: %d, %d sites", code, len(sites.Items))
	}
	hit := 0
	for _, site := range sites.Items {
		sel := `#site-table tr[data-site="` + site.SiteID + `"]`
		if !auditor.exists(sel) {
			t.Errorf("the site table has no row for %s", site.SiteID)
			continue
		}
		cells := eval[[]string](auditor, fmt.Sprintf(`[...document.querySelectorAll(%q)].map((c) => c.textContent.trim())`, sel+" > *"))
		// Site (with its zones and assets), patches and advisories, installed, pending, …, overdue.
		if len(cells) != 8 {
			t.Errorf("%s: %d cells, want 8: %q", site.SiteID, len(cells), cells)
			continue
		}
		if !strings.HasPrefix(cells[0], site.SiteName) || !strings.Contains(cells[0], fmt.Sprintf("%d assets", site.Assets)) ||
			cells[1] != fmt.Sprint(site.Items) || cells[3] != fmt.Sprint(site.Pending) {
			t.Errorf("%s: the row reads %q; the API says %+v", site.SiteID, cells, site)
		}
		if site.EvaluationsOverdue > 0 {
			hit++
			if want := fmt.Sprintf("%d evaluation", site.EvaluationsOverdue); !strings.Contains(cells[6], want) {
				t.Errorf("%s: evaluations overdue %q, want %d", site.SiteID, cells, site.EvaluationsOverdue)
			}
		}
	}
	if hit == 0 {
		t.Error("no site counts the overdue advisory: the demo's Helix switches should make it apply somewhere")
	}
	if href := auditor.attr("#sites-csv", "href"); href != "/api/v1/compliance/sites?format=csv" {
		t.Errorf("the sites CSV link: %q", href)
	} else if code := auditor.fetchStatus("GET", href, "{}"); code != http.StatusOK {
		t.Errorf("the sites CSV: %d", code)
	}
	auditor.checkAccessible("compliance")

	t.Run("a vendor has no compliance page", func(t *testing.T) {
		vendor := s.browser(t, "vendor", sh)
		vendor.signIn(s.tokens.Vendor)
		if vendor.exists(`#nav-list a[href="#/compliance"]`) {
			t.Error("a vendor's navigation shows the compliance page")
		}
		vendor.open("/compliance", "#view h1")
		vendor.shot("vendor-compliance")
		if got := vendor.text("#view"); !strings.Contains(got, "Not available") || !strings.Contains(got, "vendor") {
			t.Errorf("a vendor opening the compliance page reads %q", got)
		}
		for _, path := range []string{"/api/v1/compliance/patches", "/api/v1/compliance/overdue", "/api/v1/compliance/sites"} {
			if code := vendor.fetchStatus("GET", path, "{}"); code != http.StatusForbidden {
				t.Errorf("a vendor's GET %s: %d, want 403", path, code)
			}
		}
	})
	t.Logf("%s took %s", t.Name(), time.Since(start).Round(time.Second))
}
