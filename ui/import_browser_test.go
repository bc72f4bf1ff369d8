package ui_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserInventoryImportAndOverdue: an engineer imports a CSV file on the inventory page
// and sees the new assets in the table; a file with a bad row is refused with the row named and
// nothing imported; the import refuses a session request without the CSRF token; the
// dashboard shows the overdue evaluations (an advisory released long ago, never evaluated).
func TestBrowserInventoryImportAndOverdue(t *testing.T) {
	chromium(t)
	start := time.Now()
	s := newStack(t)
	sh := newShots(t)
	if !s.hasRoute("post", "/api/v1/assets/import") {
		t.Fatal("the server has no POST /api/v1/assets/import")
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const header = "name,zone_id,product_id,installed_version,criticality,safety_critical,redundancy_group,adapter\n"
	good := write("good.csv", header+
		"web-imp-plc-01,zone_packaging,prd_acme_plc,V2.9.3,3,false,,simulator\n"+
		"web-imp-hmi-01,zone_packaging,prd_acme_hmi,V16.0.1,2,false,,simulator\n")
	bad := write("bad.csv", header+
		"web-imp-plc-02,zone_packaging,prd_acme_plc,V2.9.3,7,false,,simulator\n")

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/inventory", "#import-form")
	engineer.checkAccessible("inventory")
	engineer.run("resize back", 10*time.Second, chromedp.EmulateViewport(1280, 900))

	engineer.run("import a bad file", 20*time.Second,
		chromedp.SetUploadFiles(css(`#import-file`), []string{bad}),
		chromedp.Click(css(`#import-assets`)),
		chromedp.WaitVisible(css(`#import-errors`)))
	engineer.shot("import-refused")
	if got := engineer.text("#import-errors"); !strings.Contains(got, "row 2: criticality") {
		t.Errorf("the refusal does not name row 2's criticality: %q", got)
	}
	if engineer.exists(`tr[data-asset="web-imp-plc-02"]`) {
		t.Error("a refused row shows in the assets table")
	}

	engineer.run("import a good file", 20*time.Second,
		chromedp.SetUploadFiles(css(`#import-file`), []string{good}),
		chromedp.Click(css(`#import-assets`)),
		chromedp.WaitVisible(css(`#import-ok`)),
		chromedp.WaitVisible(css(`tr[data-asset="web-imp-hmi-01"]`)))
	engineer.shot("imported")
	if got := engineer.text("#import-ok"); !strings.Contains(got, "Imported 2 assets") {
		t.Errorf("import result: %q", got)
	}
	if engineer.exists("#import-errors") {
		t.Error("the refusal of the earlier file is still shown")
	}
	if s.hasRoute("get", "/api/v1/compliance/assets") {
		if got := engineer.text(`tr[data-asset="web-imp-plc-01"] .patch-status`); got == "" {
			t.Error("an imported asset has no patch status")
		}
	}
	if code := engineer.fetchStatus("POST", "/api/v1/assets/import", "{}"); code != http.StatusForbidden {
		t.Errorf("import by session without X-CSRF-Token: %d, want 403", code)
	}

	t.Run("the dashboard shows overdue evaluations", func(t *testing.T) {
		if !s.hasRoute("get", "/api/v1/compliance/overdue") || !s.hasRoute("post", "/api/v1/advisories") {
			t.Skip("the server has no compliance or advisory routes")
		}
		// An advisory released in 2025 and never evaluated: its evaluation is long overdue.
		doc := map[string]any{
			"document": map[string]any{
				"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Helix switch management interface exposure",
				"publisher": map[string]any{"name": "Helix PSIRT", "category": "vendor", "namespace": "https://helix.example"},
				"tracking": map[string]any{"id": "HELIX-SA-2025-003", "status": "final", "version": "1",
					"initial_release_date": "2025-06-02T00:00:00Z", "current_release_date": "2025-06-02T00:00:00Z"},
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
		var out map[string]any
		if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer, doc, &out); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("ingest advisory: %d %v", code, out)
		}
		engineer.open("/", "#overdue-count")
		engineer.run("overdue list", 20*time.Second, chromedp.WaitVisible(css(`#overdue-evaluations`)))
		engineer.shot("dashboard-overdue")
		if got := engineer.text("#overdue-count"); !strings.Contains(got, "1 evaluation") {
			t.Errorf("overdue count: %q", got)
		}
		if got := engineer.text("#overdue-evaluations"); !strings.Contains(got, "HELIX-SA-2025-003") {
			t.Errorf("the overdue list does not name the advisory: %q", got)
		}
	})
	t.Logf("%s took %s", t.Name(), time.Since(start).Round(time.Second))
}
