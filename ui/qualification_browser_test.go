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

// TestBrowserQualificationHold: an engineer holds a patch for the release the plant's HMIs run
// from the patch's page; planning it is refused with the hold's reason. Lifted, the campaign is
// planned; held again from an imported vendor list (after a bad list is refused with its bad
// rows named), the approver sees the hold and its reason on the campaign's review, and the
// approval is refused with the reason.
func TestBrowserQualificationHold(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 2048))
	const freeze = "plant freeze until the turnaround ends"

	eng := s.browser(t, "engineer", sh)
	eng.signIn(s.tokens.Engineer)
	eng.open("/patches/"+patchID, "#qualification-set")
	eng.run("hold the patch for release 16.0", 20*time.Second,
		chromedp.SetValue(css(`#qualification-ref`), "ACME-SA-2026-014"),
		chromedp.SendKeys(css(`#qualification-release`), "16.0"),
		chromedp.SetValue(css(`#qualification-status`), "held"),
		chromedp.SendKeys(css(`#qualification-reason`), freeze),
		chromedp.Click(css(`#qualification-save`)),
		chromedp.WaitVisible(css(`#patch-holds`)))
	eng.shot("patch-held")
	if got := eng.text("#patch-holds"); !strings.Contains(got, freeze) || !strings.Contains(got, "release 16.0 of ViewPanel-HMI") {
		t.Errorf("the patch page's hold: %q", got)
	}
	if got := eng.text(`#qualification-entries tr[data-status="held"] .qual-reason`); got != freeze {
		t.Errorf("the hold's row says %q", got)
	}
	eng.checkAccessible("patch page with its qualification")
	if href := eng.attr(`#qualification-history-link`, "href"); href != "#/qualifications?patch="+patchID+"&history=1" {
		t.Errorf("the patch page links to %q for the history and the import", href)
	}

	body := map[string]any{"name": "HMI web server fix", "patch_id": patchID, "asset_ids": []string{"ast_pkg-hmi-01"}}
	var refused struct{ Detail, Rule string }
	if code := s.call("POST", "/api/v1/campaigns", s.tokens.Engineer, body, &refused); code != http.StatusConflict || !strings.Contains(refused.Detail, freeze) {
		t.Fatalf("planning a held patch: %d %+v", code, refused)
	}

	// Lifted from the patch page: the row's button loads it into the form.
	eng.run("lift the hold", 20*time.Second,
		chromedp.Click(css(`#qualification-entries tr[data-status="held"] button`)),
		chromedp.Click(css(`#qualification-save`)),
		chromedp.WaitNotPresent(css(`#patch-holds`)))
	var c struct {
		ID, Status, Detail string
		PlanDigest         string `json:"plan_digest"`
	}
	if code := s.call("POST", "/api/v1/campaigns", s.tokens.Engineer, body, &c); code != http.StatusCreated {
		t.Fatalf("planning after the lift: %d", code)
	}
	s.waitFor("bench validation", func() (bool, string) {
		s.call("GET", "/api/v1/campaigns/"+c.ID, s.tokens.Engineer, nil, &c)
		return c.Status == "awaiting_approval", c.Status + " " + c.Detail
	})

	// The vendor's list, imported on the qualification page: a bad one first.
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "acme-bad.csv"), filepath.Join(dir, "acme-2026-12.csv")
	const vendorHold = "web server does not start after the update"
	for path, text := range map[string]string{
		bad:  "update_id,product,release,status,notes\nACME-SA-2026-014,ViewPanel-HMI,16.0,hold,\n",
		good: "update_id,product,release,status,notes\nACME-SA-2026-014,prd_acme_hmi,*,held," + vendorHold + "\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	eng.run("follow the patch page's link to the history and the import", 20*time.Second,
		chromedp.Click(css(`#qualification-history-link`)), chromedp.WaitVisible(css(`#qualification-import`)),
		chromedp.WaitVisible(css(`#qualification-entries tr[data-status="held"]`)))
	importList := func(what, file, wait string) {
		eng.run(what, 20*time.Second,
			chromedp.SetValue(css(`#qualification-mapping`), "generic"),
			chromedp.SetValue(css(`#qualification-list`), "ACME qualification"),
			chromedp.SetValue(css(`#qualification-vendor`), "ACME"),
			chromedp.SetValue(css(`#qualification-list-date`), "2026-12-01"),
			chromedp.SetUploadFiles(css(`#qualification-file`), []string{file}),
			chromedp.Click(css(`#qualification-import-button`)),
			chromedp.WaitVisible(css(wait)))
	}
	importList("import a bad list", bad, `#qualification-import-result .refusal`)
	if got := eng.text(`#qualification-import-result .refusal`); !strings.Contains(got, "line 2: status") || !strings.Contains(got, `"hold" is no status`) {
		t.Errorf("the bad list's refusal: %q", got)
	}
	eng.shot("qualification-bad-list")
	importList("import the vendor's list", good, `#qualification-imported`)
	if got := eng.text(`#qualification-imported`); !strings.Contains(got, "1 rows — 1 added") {
		t.Errorf("the import says %q", got)
	}
	eng.run("the list shows the hold", 20*time.Second, chromedp.WaitVisible(css(`#qualification-entries tr[data-status="held"]`)))
	eng.checkAccessible("qualification page")

	appr := s.browser(t, "approver", sh)
	appr.signIn(s.tokens.Approver)
	appr.open("/campaigns/"+c.ID, "#campaign-holds")
	appr.shot("campaign-held")
	if got := appr.text("#campaign-holds .hold-reason"); got != vendorHold {
		t.Errorf("the campaign's hold says %q", got)
	}
	appr.run("approve while held", 20*time.Second,
		chromedp.Click(css(`#approve`)),
		chromedp.WaitVisible(css(`#action-result .error`)))
	if got := appr.text("#action-result"); !strings.Contains(got, vendorHold) {
		t.Errorf("the refused approval says %q", got)
	}
	if s.call("GET", "/api/v1/campaigns/"+c.ID, s.tokens.Approver, nil, &c); c.Status != "awaiting_approval" {
		t.Errorf("campaign %s after the refused approval", c.Status)
	}
}
