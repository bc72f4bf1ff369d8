package ui_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserProgramReport: after a campaign that patches two HMIs of packaging line 2 and one
// that rolls back, an auditor opens the Program report page on the demo plant: its figures name
// the CVE and the rollback's cause, the server's SVG charts are drawn in the page (bars for
// coverage and rollbacks, trend lines for time to deploy and exposure), the CSV and PDF links
// are there, and the site selector narrows the report to one site.
func TestBrowserProgramReport(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	patch := s.submitByAPI(s.signedPatch("V16.0.2", 64<<10))
	s.openWindowNow("zone_packaging")
	wait := func(id, want string) {
		s.waitFor("campaign "+id+" to be "+want, func() (bool, string) {
			var c struct {
				Status string `json:"status"`
			}
			s.call("GET", "/api/v1/campaigns/"+id, s.tokens.Engineer, nil, &c)
			return c.Status == want, c.Status
		})
	}
	wait(s.approvedCampaign("HMI fix, line 2", patch, []string{"ast_pkg-hmi-01", "ast_pkg-hmi-02"}), "completed")
	s.fault("ast_pkg-hmi-03", map[string]any{"verify_fail": true})
	wait(s.approvedCampaign("HMI fix, hmi-03", patch, []string{"ast_pkg-hmi-03"}), "rolled_back")

	auditor := s.browser(t, "auditor", sh)
	auditor.signIn(s.tokens.Auditor)
	auditor.open("/program", `#program-figures`)
	if got := auditor.text(`#program-exposure`); !strings.Contains(got, "CVE-2026-31337") {
		t.Errorf("the exposure table: %q", got)
	}
	if got := auditor.text(`#program-rollbacks`); !strings.Contains(got, "pkg-hmi-03") || !strings.Contains(got, "verification failed") {
		t.Errorf("the rollbacks table: %q", got)
	}
	if got := auditor.text(`#program-lead-times tr[data-milestone=deployed] td:nth-child(2)`); got != "1" {
		t.Errorf("campaigns deployed: %q, want 1", got)
	}
	// The charts are drawn: wait until the last one is in the page, then count what each drew.
	auditor.run("draw the charts", 30*time.Second, chromedp.WaitVisible(css(`figure[data-chart=exposure] svg polyline.trend`)))
	for sel, atLeast := range map[string]int{
		`figure[data-chart=coverage] svg rect.bar`:             5,
		`figure[data-chart=rollbacks] svg rect.bar`:            1,
		`figure[data-chart=downtime] svg rect.bar`:             1,
		`figure[data-chart=time-to-deploy] svg polyline.trend`: 1,
		`figure[data-chart=exposure] svg circle.point`:         12,
	} {
		if n := eval[int](auditor, `document.querySelectorAll(`+strconv.Quote(sel)+`).length`); n < atLeast {
			t.Errorf("%s: %d drawn, want at least %d", sel, n, atLeast)
		}
	}
	// A bar is drawn with a width: the browser laid the SVG out.
	if w := eval[float64](auditor, `document.querySelector("figure[data-chart=coverage] svg rect.bar").getBBox().width`); w <= 0 {
		t.Errorf("the coverage bar is %v wide", w)
	}
	if href := auditor.attr(`#program-pdf`, "href"); !strings.HasSuffix(href, "format=pdf") {
		t.Errorf("the PDF link: %q", href)
	}
	if href := auditor.attr(`#program-csv`, "href"); !strings.HasSuffix(href, "format=csv") {
		t.Errorf("the CSV link: %q", href)
	}
	auditor.shot("program-report")
	auditor.checkAccessible("program-report")

	// SetValue fires the select's change event itself, and the page is drawn again at once:
	// the select is replaced, so nothing may touch it after this.
	auditor.run("pick Rotterdam", 20*time.Second, chromedp.SetValue(css(`#program-site`), "site_rotterdam"))
	auditor.run("Rotterdam's report", 30*time.Second,
		chromedp.Poll[chromedp.Void](`!!document.querySelector("#program-figures") && document.querySelector("#program-figures").textContent.includes("Rotterdam Terminal")`),
		chromedp.WaitVisible(css(`figure[data-chart=exposure] svg`)))
	if got := auditor.text(`#program-rollbacks`); strings.Contains(got, "pkg-hmi-03") {
		t.Errorf("Rotterdam's report lists Basel's rollback: %q", got)
	}
	auditor.shot("program-report-rotterdam")
}
