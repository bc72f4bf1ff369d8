package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/teststack"
	"github.com/otpatch/otpatch/ui"
)

// TestBrowserSiteWorkers: Rotterdam's device work runs on a site worker, and one polls its
// task queue on the real Temporal server; Basel's last worker stopped ten minutes ago. The
// inventory lists each site's device work and worker status; Rotterdam's page shows its task
// queue, its waiting limit and the worker with its version, host and last poll; an engineer
// changes the waiting limit (a bad one is refused naming the field). The campaign page names
// both sites with their status lines and groups the asset that ended site_unreachable under
// its label from the server.
func TestBrowserSiteWorkers(t *testing.T) {
	chromium(t)
	ctx := context.Background()
	ts := teststack.New(t, teststack.Options{UI: ui.Handler(), ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	s := &stack{t: t, url: ts.URL, store: ts.Store, sim: ts.Sim, tokens: ts.Tokens, keys: ts.Keys}
	sh := newShots(t)

	for _, id := range []string{"site_rotterdam", "site_basel"} {
		if code := s.call("PATCH", "/api/v1/sites/"+id, s.tokens.Engineer, map[string]any{"device_work": "site_worker", "unreachable_after_seconds": 1800}, nil); code != http.StatusOK {
			t.Fatalf("PATCH %s: %d", id, code)
		}
	}
	identity := domain.SiteWorker{Site: "site_rotterdam", Version: "1.4.0", Host: "rtm-gw-01", PID: 4711}.Identity()
	w := worker.New(ts.Temporal.GetDefaultClient(), domain.SiteTaskQueue("site_rotterdam"), worker.Options{Identity: identity})
	w.RegisterActivityWithOptions(func(context.Context) error { return nil }, activity.RegisterOptions{Name: "SitePresenceProbe"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var site struct {
		WorkerStatus string `json:"worker_status"`
	}
	s.waitFor("Rotterdam's worker to be seen polling", func() (bool, string) {
		s.call("GET", "/api/v1/sites/site_rotterdam", s.tokens.Engineer, nil, &site)
		return site.WorkerStatus == "1 worker polling", site.WorkerStatus
	})
	gone := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	basel := domain.SiteWorker{Site: "site_basel", Version: "1.3.9", Host: "bsl-gw-01", PID: 12}.Identity()
	if _, err := s.store.RecordSiteWorkers(ctx, "site_basel", []store.SiteWorkerSeen{{Identity: basel, Version: "1.3.9", Host: "bsl-gw-01", LastPollAt: gone}}); err != nil {
		t.Fatal(err)
	}
	baselLine := "no worker polling since " + gone.Format("2006-01-02 15:04") + " UTC"

	// A campaign over an asset of each site; Rotterdam's ended site_unreachable.
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<12))
	c := store.Campaign{ID: store.NewID("cmp"), Name: "Sites with workers", PatchID: patchID, Status: string(domain.CampaignDeploying), CreatedBy: "erin",
		Plan: `{"targets":[]}`, PlanDigest: strings.Repeat("d1", 32), WorkflowID: "campaign-browser-sites"}
	if err := s.store.CreateCampaign(ctx, &c, []store.CampaignAsset{
		{AssetID: "ast_pkg-hmi-01", Wave: 1, State: string(domain.AssetPending), FromVersion: "V16.0.1", ToVersion: "V16.0.2"},
		{AssetID: "ast_dmz-historian-01", Wave: 1, State: string(domain.AssetSiteUnreachable), FromVersion: "4.7 SP1", ToVersion: "4.7 SP2",
			Error: "no worker of site Rotterdam Terminal took the device work within 30 min"},
	}, store.Event{Actor: "erin", Role: "engineer", Action: "campaign.created"}); err != nil {
		t.Fatal(err)
	}

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/inventory", `#sites li[data-site="site_rotterdam"] .site-worker-status`)
	if got := engineer.text(`#sites li[data-site="site_rotterdam"]`); !strings.Contains(got, "Rotterdam Terminal") || !strings.Contains(got, "on a site worker") || !strings.Contains(got, "1 worker polling") {
		t.Errorf("the inventory's Rotterdam: %q", got)
	}
	if got := engineer.text(`#sites li[data-site="site_basel"]`); !strings.Contains(got, baselLine) {
		t.Errorf("the inventory's Basel: %q, want %q", got, baselLine)
	}
	engineer.shot("inventory-sites")

	engineer.run("open Rotterdam's page", 20*time.Second,
		chromedp.Click(css(`#sites li[data-site="site_rotterdam"] a`)),
		chromedp.WaitVisible(css(`#site-workers`)))
	if got := engineer.text(`h1`); got != "Site Rotterdam Terminal" {
		t.Errorf("the site page's heading: %q", got)
	}
	for sel, want := range map[string]string{
		"#site-device-work":   "on a site worker",
		"#site-task-queue":    domain.SiteTaskQueue("site_rotterdam"),
		"#site-wait":          "30 min",
		"#site-worker-status": "1 worker polling",
	} {
		if got := engineer.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s says %q, want %q", sel, got, want)
		}
	}
	row := engineer.text(`#site-workers tbody tr`)
	for _, want := range []string{identity, "1.4.0", "rtm-gw-01", "polling", "UTC"} {
		if !strings.Contains(row, want) {
			t.Errorf("the worker's row %q lacks %q", row, want)
		}
	}
	engineer.shot("site-page")
	engineer.checkAccessible("site")

	// A waiting limit under a minute is not sent: the field says it is out of range; fifteen
	// minutes is saved.
	engineer.run("try a waiting limit of 30 s", 20*time.Second,
		chromedp.SetValue(css(`#site-wait-input`), "30"),
		chromedp.Click(css(`#site-change`)))
	if !eval[bool](engineer, `document.getElementById("site-wait-input").validity.rangeUnderflow`) || engineer.exists(`#site-change-ok`) {
		t.Error("a waiting limit of 30 s was not held back as under the minimum")
	}
	engineer.run("save a waiting limit of 900 s", 20*time.Second,
		chromedp.SetValue(css(`#site-wait-input`), "900"),
		chromedp.Click(css(`#site-change`)),
		chromedp.WaitVisible(css(`#site-change-ok`)))
	if got := engineer.text(`#site-wait`); !strings.Contains(got, "15 min") {
		t.Errorf("after the change the site waits %q, want 15 min", got)
	}

	engineer.open("/campaigns/"+c.ID, `#campaign-sites li[data-site="site_basel"]`)
	for id, want := range map[string]string{"site_basel": "site Basel Works: " + baselLine, "site_rotterdam": "site Rotterdam Terminal: 1 worker polling"} {
		// The tone's symbol is for the eye (aria-hidden); the words follow it.
		got := strings.NewReplacer("✓ ", "", "✗ ", "", "! ", "").Replace(engineer.text(`#campaign-sites li[data-site="` + id + `"]`))
		if !strings.Contains(got, want) {
			t.Errorf("the campaign's %s: %q, want %q", id, got, want)
		}
	}
	if got := engineer.text(`#campaign-sites-warning`); !strings.Contains(got, "Basel Works") || strings.Contains(got, "Rotterdam") {
		t.Errorf("the campaign's warning: %q, want it for Basel only", got)
	}
	var label string
	for _, st := range domain.AssetStateInfo() {
		if st.Value == string(domain.AssetSiteUnreachable) {
			label = st.Label
		}
	}
	if got := engineer.text(`#end-site_unreachable`); label == "" || !strings.Contains(got, label) || !strings.Contains(got, "dmz-historian-01") {
		t.Errorf("the site_unreachable group says %q, want the label %q and the asset", got, label)
	}
	engineer.shot("campaign-sites")
	engineer.checkAccessible("campaign")

	// A vendor has no site page.
	vendor := s.browser(t, "vendor", sh)
	vendor.signIn(s.tokens.Vendor)
	vendor.open("/sites/site_rotterdam", "h1")
	if got := vendor.text("h1"); got != "Not available" {
		t.Errorf("a vendor opening a site page sees %q", got)
	}
}
