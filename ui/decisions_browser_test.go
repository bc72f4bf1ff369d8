package ui_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// hmiAdvisory is a CSAF 2.0 advisory for the demo plant's ViewPanel HMIs below V16.0.2 (a
// vendor fix) and its Helix switches (a mitigation only).
func hmiAdvisory() map[string]any {
	product := func(vendor, name, version, id string) map[string]any {
		return map[string]any{"category": "vendor", "name": vendor, "branches": []any{map[string]any{"category": "product_name", "name": name, "branches": []any{
			map[string]any{"category": "product_version_range", "name": version, "product": map[string]any{"name": name + " " + version, "product_id": id}},
		}}}}
	}
	return map[string]any{
		"document": map[string]any{
			"category": "csaf_security_advisory", "csaf_version": "2.0", "title": "Acme ViewPanel HMI authentication bypass",
			"publisher": map[string]any{"name": "Acme PSIRT", "category": "vendor", "namespace": "https://acme.example"},
			"tracking": map[string]any{"id": "ACME-SA-2026-021", "status": "final", "version": "1",
				"initial_release_date": "2026-11-20T00:00:00Z", "current_release_date": "2026-11-20T00:00:00Z"},
		},
		"product_tree": map[string]any{"branches": []any{
			product("Acme Automation AG", "ViewPanel-HMI", "vers:generic/<16.0.2", "ACME-HMI"),
			product("Helix Industrial Networks", "Helix-Switch", "All versions", "HELIX-SW"),
		}},
		"vulnerabilities": []any{
			map[string]any{
				"cve": "CVE-2026-31337", "product_status": map[string]any{"known_affected": []any{"ACME-HMI"}},
				"remediations": []any{map[string]any{"category": "vendor_fix", "details": "Update to V16.0.2 or later version", "product_ids": []any{"ACME-HMI"}}},
			},
			map[string]any{
				"cve": "CVE-2026-31338", "product_status": map[string]any{"known_affected": []any{"HELIX-SW"}},
				"remediations": []any{map[string]any{"category": "mitigation", "details": "Disable the switch's HTTP management interface", "product_ids": []any{"HELIX-SW"}}},
			},
		},
	}
}

// TestBrowserAdvisoryDecisions: an engineer opens an advisory and, for the packaging line's
// HMIs, decides "patch": the campaign is planned in one step and the page links to it; each of
// those HMIs then shows the patch decision, and the campaign page names the advisory. For the packaging switches, which no patch fixes,
// "patch" is not offered; he states them not affected with a CSAF VEX justification instead.
func TestBrowserAdvisoryDecisions(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	if !s.hasRoute("post", "/api/v1/advisories/{advisoryID}/decisions") {
		t.Fatal("the server has no POST /api/v1/advisories/{advisoryID}/decisions")
	}
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<16))
	var adv struct {
		ID string `json:"id"`
	}
	if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer, hmiAdvisory(), &adv); code != http.StatusCreated {
		t.Fatalf("ingest: %d", code)
	}

	eng := s.browser(t, "engineer", sh)
	eng.signIn(s.tokens.Engineer)
	eng.open("/advisories/"+adv.ID, "#decision-groups")
	hmis := `#decision-groups tr[data-group="zone_packaging/prd_acme_hmi"]`
	switches := `#decision-groups tr[data-group="zone_packaging/prd_helix_switch"]`
	if !eng.exists(hmis) || !eng.exists(switches) {
		t.Fatalf("the groups to decide for: %q", eng.text("#decision-groups"))
	}
	if !eng.exists(switches + ` button[id^="decide-patch"][disabled]`) {
		t.Errorf("patch is offered for the switches, which no qualified patch fixes")
	}
	eng.shot("advisory-before-decisions")

	eng.run("decide patch for the packaging HMIs", 60*time.Second,
		chromedp.Click(css(hmis+` button[id^="decide-patch"]`)),
		chromedp.WaitVisible(css(`#decision-campaign-link`)))
	href := eng.attr(`#decision-campaign-link`, "href")
	campaignID := strings.TrimPrefix(href, "#/campaigns/")
	if campaignID == href || campaignID == "" {
		t.Fatalf("the link to the campaign: %q", href)
	}
	var c struct {
		PatchID  string `json:"patch_id"`
		Advisory *struct {
			AdvisoryID string `json:"advisory_id"`
			TrackingID string `json:"tracking_id"`
		} `json:"advisory"`
	}
	if code := s.call("GET", "/api/v1/campaigns/"+campaignID, s.tokens.Approver, nil, &c); code != http.StatusOK || c.PatchID != patchID ||
		c.Advisory == nil || c.Advisory.AdvisoryID != adv.ID || c.Advisory.TrackingID != "ACME-SA-2026-021" {
		t.Fatalf("the campaign planned from the page: %d %+v", code, c)
	}
	eng.run("the decision shows on each packaging HMI", 20*time.Second,
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('#affected-assets tr[data-asset^="ast_pkg-hmi"] td.decision')].every((td) => td.textContent.includes("patch") && td.querySelector('a[href^="#/campaigns/"]'))`))
	eng.shot("advisory-patch-decided")

	eng.run("state the packaging switches not affected", 30*time.Second,
		chromedp.Click(css(switches+` button[id^="decide-not_affected"]`)),
		chromedp.WaitVisible(css(`#decision-not_affected`)),
		chromedp.SetValue(css(`#decision-vex_justification`), "vulnerable_code_not_in_execute_path"),
		chromedp.SendKeys(css(`#decision-impact_statement`), "The switches run with HTTP management disabled at build time."),
		chromedp.Click(css(`#decision-submit`)),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll('#affected-assets tr[data-asset^="ast_pkg-switch"] td.decision')].every((td) => td.textContent.includes("not affected"))`))
	// The list of decisions is drawn again after the affected assets: wait for it.
	eng.run("the decisions listed", 20*time.Second, chromedp.Poll[chromedp.Void](
		`(() => { const l = document.getElementById("decision-list"); return !!l && l.textContent.includes("vulnerable code not in execute path") && l.textContent.includes("campaign `+campaignID+`"); })()`))
	eng.shot("advisory-decisions")

	eng.run("open the campaign from the advisory", 30*time.Second,
		chromedp.Click(css(`#decision-list a[href="#/campaigns/`+campaignID+`"]`)),
		chromedp.WaitVisible(css(`#campaign-advisory`)))
	if got := eng.text(`#campaign-advisory`); !strings.Contains(got, "ACME-SA-2026-021") || !strings.Contains(got, "erin-engineer") {
		t.Errorf("the campaign page's advisory: %q", got)
	}
	eng.shot("campaign-from-advisory")

	// A risk acceptance for the safety HMIs: the approver it names rejects it, with the reason.
	var acc struct {
		ID string `json:"id"`
	}
	if code := s.call("POST", "/api/v1/advisories/"+adv.ID+"/decisions", s.tokens.Engineer, map[string]any{"kind": "accept", "zone_id": "zone_safety",
		"justification": "the SIS HMIs are replaced at the turnaround", "approver": "otto-operations",
		"expires_on": time.Now().UTC().AddDate(0, 0, 60).Format(time.DateOnly)}, &acc); code != http.StatusCreated {
		t.Fatalf("accept: %d", code)
	}
	appr := s.browser(t, "approver", sh)
	appr.signIn(s.tokens.Approver)
	appr.open("/advisories/"+adv.ID, "#reject-"+acc.ID)
	appr.run("reject without a reason", 20*time.Second, chromedp.Click(css(`#reject-`+acc.ID)),
		chromedp.Poll[chromedp.Void](`document.body.textContent.includes("Reason") && document.body.textContent.includes("is required")`))
	appr.run("reject with the reason", 20*time.Second,
		chromedp.SendKeys(css(`#reject-reason-`+acc.ID), "the vendor fix is qualified: patch them at the turnaround instead"),
		chromedp.Click(css(`#reject-`+acc.ID)),
		chromedp.Poll[chromedp.Void](`(() => { const r = document.querySelector('#decision-list tr[data-decision="`+acc.ID+`"]'); return r && r.textContent.includes("rejected by otto-operations"); })()`))
	appr.shot("acceptance-rejected")
}

// TestBrowserVEXNotAffected: a CSAF VEX document stating the demo's ViewPanel HMIs not affected
// lists them on the advisory page, with the flag that justifies it, and hits no asset.
func TestBrowserVEXNotAffected(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	vex := map[string]any{
		"document": map[string]any{
			"category": "csaf_vex", "csaf_version": "2.0", "title": "Acme ViewPanel web server",
			"publisher": map[string]any{"name": "Acme PSIRT", "category": "vendor", "namespace": "https://acme.example"},
			"tracking": map[string]any{"id": "ACME-VEX-1", "status": "final", "version": "1",
				"initial_release_date": "2026-01-01T00:00:00Z", "current_release_date": "2026-01-02T00:00:00Z"},
		},
		"product_tree": map[string]any{"branches": []any{map[string]any{"category": "vendor", "name": "Acme Automation AG", "branches": []any{
			map[string]any{"category": "product_name", "name": "ViewPanel-HMI", "branches": []any{
				map[string]any{"category": "product_version_range", "name": "vers:generic/<16.0.2", "product": map[string]any{"name": "ViewPanel-HMI < V16.0.2", "product_id": "P1"}},
			}},
		}}}},
		"vulnerabilities": []any{map[string]any{
			"cve": "CVE-2026-40001", "product_status": map[string]any{"known_not_affected": []any{"P1"}},
			"flags": []any{map[string]any{"label": "component_not_present", "product_ids": []any{"P1"}}},
		}},
	}
	var adv struct {
		ID          string `json:"id"`
		NotAffected int    `json:"not_affected_asset_count"`
	}
	if code := s.call("POST", "/api/v1/advisories", s.tokens.Engineer, vex, &adv); code != http.StatusCreated || adv.NotAffected == 0 {
		t.Fatalf("ingest the VEX document: %d %+v", code, adv)
	}
	eng := s.browser(t, "engineer", sh)
	eng.signIn(s.tokens.Engineer)
	eng.open("/advisories/"+adv.ID, "#not-affected-assets")
	rows := eval[int](eng, `document.querySelectorAll("#not-affected-assets tbody tr").length`)
	if rows != adv.NotAffected {
		t.Errorf("%d rows not affected on the page, the API says %d", rows, adv.NotAffected)
	}
	if got := eng.text("#not-affected-assets"); !strings.Contains(got, "component not present") || !strings.Contains(got, "CVE-2026-40001") {
		t.Errorf("the not-affected table: %q", got)
	}
	if got := eng.text("#affected-assets"); !strings.Contains(got, "No asset in the inventory is hit") {
		t.Errorf("the affected assets of a VEX statement: %q", got)
	}
	eng.shot("vex-not-affected")
}
