package ui_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/airgap"
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

// transferStack is a stack whose API holds a transfer key, as a central instance started with
// --transfer-key: it writes the plan bundles of campaigns of air-gapped sites.
func transferStack(t *testing.T) *stack {
	t.Helper()
	ts := teststack.New(t, teststack.Options{ServerOptions: []temporaltest.TestServerOption{temporaltest.WithT(t)}})
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Deps{Store: ts.Store, Objects: ts.Objects, Temporal: ts.Temporal.GetDefaultClient(), Simulator: ts.Sim,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), UI: ui.Handler(), Limits: api.Limits{AuthFailures: 1 << 20, Writes: 1 << 20},
		Transfers: &airgap.Node{Store: ts.Store, Objects: ts.Objects, Key: key, Origin: "otpatch/central", TempDir: t.TempDir()}})
	srv := httptest.NewServer(teststack.NewContract(t).Wrap(h))
	t.Cleanup(srv.Close)
	return &stack{t: t, url: srv.URL, store: ts.Store, sim: ts.Sim, tokens: ts.Tokens, keys: ts.Keys}
}

// TestBrowserAirGappedSite: an engineer makes Basel air-gapped on its site page. A transfer key
// that is none is refused naming the field and changes nothing; the site's key is pinned, and
// the page shows it and Basel's (empty) transfer bundles. A campaign of a Basel HMI is carried
// there: its page names the site and says its results are not returned yet, and the plan
// bundle, offered once the plan is approved, is saved as a file whose SHA-256 the page shows;
// the bundle is then listed on the campaign's and the site's pages, and so are the site's
// results once a results bundle is recorded as imported.
func TestBrowserAirGappedSite(t *testing.T) {
	chromium(t)
	s := transferStack(t)
	sh := newShots(t)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	siteKey := base64.StdEncoding.EncodeToString(pub)

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/sites/site_basel", "#site-form")
	if engineer.exists("#site-transfers:not([hidden])") || eval[bool](engineer, `!document.getElementById("site-transfer-key-input").closest(".field").hidden`) {
		t.Error("a central site shows transfer bundles or a transfer key field")
	}
	engineer.run("choose air-gapped device work", 20*time.Second,
		chromedp.SetValue(css(`#site-device-work-input`), "air_gapped"),
		chromedp.WaitVisible(css(`#site-transfer-key-input`)),
		chromedp.SendKeys(css(`#site-transfer-key-input`), "not-a-key"),
		chromedp.Click(css(`#site-change`)),
		chromedp.WaitVisible(css(`#site-change-result [data-field="transfer_key"]`)))
	if got := engineer.text(`#site-change-result [data-field="transfer_key"]`); !strings.Contains(got, "Transfer key") || !strings.Contains(got, "not an ed25519 public key") {
		t.Errorf("the refused transfer key says %q", got)
	}
	var site struct {
		DeviceWork  string `json:"device_work"`
		TransferKey string `json:"transfer_key"`
	}
	s.call("GET", "/api/v1/sites/site_basel", s.tokens.Engineer, nil, &site)
	if site.DeviceWork != "central" || site.TransferKey != "" {
		t.Errorf("a refused change changed the site: %+v", site)
	}
	engineer.shot("transfer-key-refused")

	engineer.run("pin the site's transfer key", 20*time.Second,
		chromedp.SetValue(css(`#site-transfer-key-input`), siteKey),
		chromedp.Click(css(`#site-change`)),
		chromedp.WaitVisible(css(`#site-change-ok`)),
		chromedp.WaitVisible(css(`#site-transfer-key`)))
	for sel, want := range map[string]string{
		"#site-device-work":   "air-gapped",
		"#site-transfer-key":  siteKey,
		"#site-transfer-list": "No transfer bundle",
		"#site-presence":      "the site's own otpatch instance",
	} {
		if got := engineer.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s says %q, want %q", sel, got, want)
		}
	}
	s.call("GET", "/api/v1/sites/site_basel", s.tokens.Engineer, nil, &site)
	if site.DeviceWork != "air_gapped" || site.TransferKey != siteKey {
		t.Errorf("after the change the site is %+v", site)
	}
	engineer.shot("air-gapped-site")
	engineer.checkAccessible("air-gapped site")
	engineer.open("/inventory", `#sites li[data-site="site_basel"]`)
	if got := engineer.text(`#sites li[data-site="site_basel"]`); !strings.Contains(got, "air-gapped") || strings.Contains(got, "no transfer key pinned") {
		t.Errorf("the inventory's Basel: %q", got)
	}

	// A campaign of a Basel HMI: approved here, carried to the site.
	patchID := s.submitByAPI(s.signedPatch("V16.0.2", 1<<12))
	var c struct {
		ID         string `json:"id"`
		PlanDigest string `json:"plan_digest"`
		Status     string `json:"status"`
		Detail     string `json:"detail"`
		Plan       struct {
			TransferSite string `json:"transfer_site"`
		} `json:"plan"`
	}
	if code := s.call("POST", "/api/v1/campaigns", s.tokens.Engineer, map[string]any{"name": "HMI fix at Basel", "patch_id": patchID, "asset_ids": []string{"ast_pkg-hmi-01"}}, &c); code != http.StatusCreated {
		t.Fatalf("create campaign: %d", code)
	}
	if c.Plan.TransferSite != "site_basel" {
		t.Fatalf("the plan is carried to %q, want site_basel", c.Plan.TransferSite)
	}
	s.waitFor("awaiting approval", func() (bool, string) {
		s.call("GET", "/api/v1/campaigns/"+c.ID, s.tokens.Engineer, nil, &c)
		return c.Status == "awaiting_approval", c.Status + " " + c.Detail
	})
	engineer.open("/campaigns/"+c.ID, "#campaign-transfer")
	if got := engineer.text("#campaign-transfer"); !strings.Contains(got, "Basel Works") {
		t.Errorf("the campaign's air-gapped site section: %q", got)
	}
	if got := engineer.text("#campaign-results-pending"); !strings.Contains(got, "Results not returned yet") {
		t.Errorf("the campaign's results line: %q", got)
	}
	if got := engineer.text("#campaign-transfers"); !strings.Contains(got, "No transfer bundle") {
		t.Errorf("the campaign's transfers before approval: %q", got)
	}
	if !eval[bool](engineer, `document.getElementById("download-plan-bundle").disabled`) {
		t.Error("the plan bundle is offered before the plan is approved")
	}
	if code := s.call("POST", "/api/v1/campaigns/"+c.ID+"/decisions", s.tokens.Approver, map[string]any{"decision": "approve", "plan_digest": c.PlanDigest}, nil); code != http.StatusOK {
		t.Fatalf("approve: %d", code)
	}
	downloads := t.TempDir()
	engineer.run("download the plan bundle", 60*time.Second,
		chromedp.WaitVisible(css(`#campaign-status[data-state="scheduled"]`)),
		chromedp.WaitEnabled(css(`#download-plan-bundle`)),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Click(css(`#download-plan-bundle`)),
		chromedp.WaitVisible(css(`#campaign-bundle-sha256`)),
		chromedp.WaitVisible(css(`#campaign-transfers tbody tr[data-kind="plan"]`)))
	if got := engineer.text("#campaign-detail"); !strings.Contains(got, "results not returned yet") {
		t.Errorf("the scheduled campaign's detail: %q", got)
	}
	shown := engineer.text("#campaign-bundle-sha256")
	var list struct {
		Items []struct {
			Direction  string `json:"direction"`
			Kind       string `json:"kind"`
			Sequence   uint64 `json:"sequence"`
			FileSHA256 string `json:"file_sha256"`
		} `json:"items"`
	}
	s.call("GET", "/api/v1/transfers?campaign_id="+c.ID, s.tokens.Engineer, nil, &list)
	if len(list.Items) != 1 || list.Items[0].Direction != "out" || list.Items[0].Kind != "plan" || list.Items[0].FileSHA256 != shown {
		t.Fatalf("the page shows SHA-256 %q; the transfers are %+v", shown, list.Items)
	}
	file := filepath.Join(downloads, fmt.Sprintf("site_basel-plan-%d.tar", list.Items[0].Sequence))
	s.waitFor("the saved plan bundle", func() (bool, string) {
		_, err := os.Stat(file)
		return err == nil, fmt.Sprint(err)
	})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != shown {
		t.Errorf("the saved file's SHA-256 is %x; the page shows %s", sum, shown)
	}
	row := engineer.text(`#campaign-transfers tbody tr[data-kind="plan"]`)
	for _, want := range []string{"written here", "plan", shown[:16]} {
		if !strings.Contains(row, want) {
			t.Errorf("the plan bundle's row %q lacks %q", row, want)
		}
	}
	if got := engineer.attr(`#campaign-transfers tbody tr[data-kind="plan"] .bundle-sha256`, "title"); got != shown {
		t.Errorf("the row's SHA-256 title: %q, want %q", got, shown)
	}
	if !engineer.exists("#campaign-results-pending") {
		t.Error("after the plan bundle the campaign no longer says its results are not returned")
	}
	engineer.shot("campaign-plan-bundle")
	engineer.checkAccessible("air-gapped campaign")

	// The site's first results, as an import records them: the open page shows them.
	now := time.Now().UTC().Truncate(time.Second)
	results := store.Transfer{SiteID: "site_basel", Kind: "results", Direction: store.TransferIn, Sequence: 1, Digest: strings.Repeat("ab", 32),
		FileSHA256: strings.Repeat("cd", 32), Size: 2048, CampaignID: c.ID, Origin: "otpatch/basel", CreatedAt: now, ExpiresAt: now.Add(14 * 24 * time.Hour),
		RecordedBy: "erin-engineer", Status: string(domain.CampaignDeploying), Detail: "wave 1 of 1 deploying"}
	if err := s.store.RecordTransfer(context.Background(), &results, store.Event{Actor: "erin-engineer", Role: "engineer", Action: "transfer.imported"}, nil); err != nil {
		t.Fatal(err)
	}
	engineer.run("see the site's results", 20*time.Second, chromedp.WaitVisible(css(`#campaign-results-latest`)),
		chromedp.WaitVisible(css(`#campaign-transfers tbody tr[data-kind="results"]`)))
	if got := engineer.text("#campaign-results-latest"); !strings.Contains(got, "wave 1 of 1 deploying") || !strings.Contains(got, "erin-engineer") {
		t.Errorf("the campaign's latest results: %q", got)
	}
	if engineer.exists("#campaign-results-pending") {
		t.Error("the campaign still says its results are not returned")
	}

	engineer.open("/sites/site_basel", `#site-transfer-list tbody tr[data-kind="plan"]`)
	for kind, want := range map[string][]string{"plan": {"HMI fix at Basel", "written here"}, "results": {"HMI fix at Basel", "imported here", "wave 1 of 1 deploying"}} {
		got := engineer.text(`#site-transfer-list tbody tr[data-kind="` + kind + `"]`)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("the site's %s bundle row %q lacks %q", kind, got, w)
			}
		}
	}
	engineer.shot("site-transfers")

	// An approver sees the carried campaign without the download.
	approver := s.browser(t, "approver", sh)
	approver.signIn(s.tokens.Approver)
	approver.open("/campaigns/"+c.ID, `#campaign-transfers tbody tr`)
	if approver.exists("#download-plan-bundle") {
		t.Error("an approver is offered the plan bundle")
	}
}
