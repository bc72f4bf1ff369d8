package ui_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDrills: an engineer plans a restore drill of Terminal DMZ on the Drills page and
// runs it now; with no production backup of the zone yet the run fails and says why, on the
// list and on the drill's page. Its interval then passed (the stored time set back): the drill
// is marked overdue on the Drills page and on the dashboard. An auditor sees the drills and no
// Run now button.
func TestBrowserDrills(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/drills", `#drill-form`)
	engineer.run("plan a drill of Terminal DMZ", 30*time.Second,
		chromedp.SetValue(css(`#drill-of`), "zone:zone_dmz"),
		chromedp.SetValue(css(`#drill-days`), "1"),
		chromedp.Click(css(`#drill-add`)),
		chromedp.WaitVisible(css(`#drill-add-ok`)),
		chromedp.WaitVisible(css(`#drill-list tbody tr`)))
	if got := engineer.text(`#drill-list tbody tr`); !strings.Contains(got, "Terminal DMZ") || !strings.Contains(got, "1 day") || !strings.Contains(got, "not run yet") {
		t.Errorf("the new drill's row: %q", got)
	}
	drillID := engineer.attr(`#drill-list tbody tr`, "data-drill")
	if got := engineer.text(`#drills-overdue`); !strings.Contains(got, "No drill is overdue") {
		t.Errorf("the overdue line of a new drill: %q", got)
	}

	engineer.run("run it now and wait for its result", 60*time.Second,
		chromedp.Click(css(`#drill-list button[data-run]`)),
		chromedp.Poll[chromedp.Void](`(document.querySelector("#drill-list tbody tr") || {textContent: ""}).textContent.includes("failed")`, chromedp.WithPollingTimeout(50*time.Second)))
	engineer.shot("drills")
	engineer.checkAccessible("drills")

	engineer.run("open the drill", 20*time.Second, chromedp.Click(css(`#drill-list tbody tr a`)), chromedp.WaitVisible(css(`#drill-runs tbody tr`)))
	if got := engineer.text(`#drill-runs tbody tr`); !strings.Contains(got, "failed") || !strings.Contains(got, "no verified production backup of zone zone_dmz") {
		t.Errorf("the run's row: %q", got)
	}
	engineer.shot("drill")
	engineer.checkAccessible("drill")

	// The drill's interval passed with no passing run.
	if err := s.store.DB().Exec("UPDATE drills SET created_at = ? WHERE id = ?", s.store.Now().Add(-48*time.Hour), drillID).Error; err != nil {
		t.Fatal(err)
	}
	engineer.open("/drills", `#drill-list`)
	engineer.run("see the drill overdue", 20*time.Second, chromedp.Poll[chromedp.Void](`document.querySelector("#drill-list [data-overdue]") !== null`))
	if got := engineer.text(`#drills-overdue`); !strings.Contains(got, "1 drill is overdue") {
		t.Errorf("the overdue line: %q", got)
	}
	engineer.open("/", `#overdue-drills`)
	engineer.run("see the overdue drill on the dashboard", 30*time.Second,
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector('#overdue-drill-list tr[data-drill=%q]') !== null`, drillID)))
	if got := engineer.text(`#overdue-drills`); !strings.Contains(got, "1 restore drill is overdue") || !strings.Contains(got, "Terminal DMZ") || !strings.Contains(got, "failed") {
		t.Errorf("the dashboard's drills: %q", got)
	}
	engineer.shot("dashboard-drills")

	auditor := s.browser(t, "auditor", sh)
	auditor.signIn(s.tokens.Auditor)
	auditor.open("/drills", `#drill-list`)
	auditor.run("see the drills", 20*time.Second, chromedp.Poll[chromedp.Void](`document.querySelector("#drill-list tbody tr") !== null`))
	if auditor.exists(`#drill-list button[data-run]`) || auditor.exists(`#drill-form`) {
		t.Error("the auditor is offered to run or plan drills")
	}
}
