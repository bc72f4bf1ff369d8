package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// TestBrowserLargeCampaign: a deploying campaign of 250 HMIs opens with its counts by state and
// wave, the first 100 of its assets and the first 100 of the review's targets. “Show more”
// reads the rest a page at a time until every asset and target shows; the rolled-back assets,
// most of them beyond the first page, are listed under “Failed and rolled back” from the start;
// and the whole plan the approvers approve is one download away.
func TestBrowserLargeCampaign(t *testing.T) {
	chromium(t)
	s := newStack(t)
	sh := newShots(t)
	const n = 250
	id, rolledBack := s.largeCampaign(n)

	engineer := s.browser(t, "engineer", sh)
	engineer.signIn(s.tokens.Engineer)
	engineer.open("/campaigns/"+id, "#campaign-assets-shown")
	rows := func(sel string) int {
		return eval[int](engineer, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
	}
	if got := engineer.text("#waves-summary"); !strings.HasPrefix(got, fmt.Sprintf("%d of %d assets done", n/10+1, n+1)) {
		t.Errorf("waves summary %q, want the counts of all %d assets", got, n+1)
	}
	if got := rows("#waves tbody tr"); got != 100 {
		t.Errorf("%d assets shown at first, want the first page of 100", got)
	}
	if got := engineer.text("#campaign-assets-shown"); !strings.Contains(got, fmt.Sprintf("Showing 100 of %d", n+1)) {
		t.Errorf("the assets shown say %q", got)
	}
	details := engineer.text("#rollback-details")
	for _, name := range rolledBack {
		if !strings.Contains(details, name) {
			t.Errorf("%s is rolled back but not listed under failed and rolled back: %q", name, details)
		}
	}
	if page := eval[string](engineer, `document.getElementById("view").innerText`); regexp.MustCompile(`\b(null|undefined|NaN)\b`).MatchString(page) {
		t.Errorf("the page shows a missing value: %q", regexp.MustCompile(`.{0,80}\b(null|undefined|NaN)\b.{0,40}`).FindString(page))
	}
	engineer.shot("first-page")
	for _, want := range []int{200, n + 1} {
		engineer.run(fmt.Sprintf("show more assets, up to %d", want), 20*time.Second, chromedp.Click(css(`#more-assets`)),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#waves tbody tr").length === %d`, want)))
	}
	if engineer.exists(`#campaign-assets-more:not([hidden])`) {
		t.Error("the page still offers more assets when it shows them all")
	}
	engineer.shot("all-assets")

	if got := rows("#review-targets tbody tr"); got != 100 {
		t.Errorf("%d review targets shown at first, want 100", got)
	}
	if got := engineer.text("#review-targets-shown"); !strings.Contains(got, fmt.Sprintf("Showing 100 of %d targets", n)) {
		t.Errorf("the review's targets say %q", got)
	}
	for _, want := range []int{200, n} {
		engineer.run(fmt.Sprintf("show more targets, up to %d", want), 20*time.Second, chromedp.Click(css(`#more-review-targets`)),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelectorAll("#review-targets tbody tr").length === %d`, want)))
	}
	if engineer.exists("#more-review-targets") {
		t.Error("the review still offers more targets when it shows them all")
	}
	if href := engineer.attr("#whole-plan", "href"); !strings.HasSuffix(href, "/api/v1/campaigns/"+id+"/plan") {
		t.Errorf("the whole plan's link goes to %q", href)
	} else if code := engineer.fetchStatus("GET", "/api/v1/campaigns/"+id+"/plan", "{}"); code != http.StatusOK {
		t.Errorf("the whole plan's link answers %d", code)
	}
	engineer.checkAccessible("large-campaign")
}

// largeCampaign writes a deploying campaign of n new ViewPanel HMIs straight into the store, as
// the API plans one: a tenth done, the last five rolled back, the rest pending. It returns the
// campaign's id and the names of the rolled-back assets.
func (s *stack) largeCampaign(n int) (string, []string) {
	s.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		s.t.Helper()
		if err != nil {
			s.t.Fatal(err)
		}
	}
	f := s.signedPatch("V16.0.2", 1000)
	raw, err := os.ReadFile(f.manifest)
	must(err)
	m, err := domain.ParseManifest(raw)
	must(err)
	p := store.Patch{ID: store.NewID("pat"), VendorID: "vnd_acme", ProductID: "prd_acme_hmi", PatchRef: m.PatchID, Version: m.Version, Title: m.Title,
		Status: string(domain.PatchQualified), Manifest: string(raw), ManifestSHA256: "-", Signature: "-", KeyFingerprint: "-", SubmittedBy: "acme-release",
		CreatedAt: s.store.Now(), UpdatedAt: s.store.Now()}
	must(s.store.DB().Create(&p).Error)
	zones, err := s.store.Zones(ctx)
	must(err)
	zoneOf := map[string]store.Zone{}
	for _, z := range zones {
		zoneOf[z.ID] = z
	}
	prod := []string{"zone_packaging", "zone_process", "zone_dmz"}
	as := make([]store.Asset, n)
	for i := range as {
		name := fmt.Sprintf("big-hmi-%03d", i)
		as[i] = store.Asset{ID: "ast_" + name, ZoneID: prod[i%len(prod)], ProductID: "prd_acme_hmi", Name: name, InstalledVersion: "V16.0.1", Criticality: 2, Adapter: "simulator"}
	}
	must(s.store.CreateAssets(ctx, as, store.Event{Actor: "test-setup", Role: "system", Action: "asset.imported"}))
	bench, err := s.store.Asset(ctx, "ast_bench-hmi-01")
	must(err)
	candidate := func(a store.Asset) domain.Candidate {
		z := zoneOf[a.ZoneID]
		return domain.Candidate{AssetID: a.ID, Name: a.Name, ZoneID: z.ID, ZoneName: z.Name, SLT: z.SLT, TestBench: z.TestBench, Criticality: a.Criticality,
			InstalledVersion: a.InstalledVersion, Window: z.Window}
	}
	cands := []domain.Candidate{candidate(bench)}
	ids := make([]string, n)
	for i, a := range as {
		cands = append(cands, candidate(a))
		ids[i] = a.ID
	}
	plan, err := domain.BuildPlan(m, domain.PlanRequest{PatchID: p.ID, ManifestSHA256: p.ManifestSHA256, CreatedBy: "erin-engineer", AssetIDs: ids}, cands)
	must(err)
	waveOf := map[string]int{}
	for i, w := range plan.Waves {
		for _, id := range w.AssetIDs {
			waveOf[id] = i + 1
		}
	}
	state := map[string]domain.AssetState{bench.ID: domain.AssetDone}
	var rolledBack []string
	for i, a := range as {
		switch {
		case i%10 == 0:
			state[a.ID] = domain.AssetDone
		case i >= n-5:
			state[a.ID] = domain.AssetRolledBack
			rolledBack = append(rolledBack, a.Name)
		}
	}
	targets := make([]store.CampaignAsset, 0, len(plan.Targets))
	for _, t := range plan.Targets {
		st := domain.AssetPending
		if v, ok := state[t.AssetID]; ok {
			st = v
		}
		targets = append(targets, store.CampaignAsset{AssetID: t.AssetID, TestBench: t.TestBench, Wave: waveOf[t.AssetID], State: string(st), FromVersion: t.FromVersion, ToVersion: plan.ToVersion})
	}
	planJSON, err := json.Marshal(plan)
	must(err)
	c := store.Campaign{ID: store.NewID("cmp"), Name: "HMI fix, 250 panels", PatchID: p.ID, Status: string(domain.CampaignDeploying), CreatedBy: "erin-engineer",
		Plan: string(planJSON), PlanDigest: plan.Digest()}
	c.WorkflowID = "campaign-" + c.ID
	must(s.store.CreateCampaign(ctx, &c, targets, store.Event{Actor: "erin-engineer", Role: "engineer", Action: "campaign.created"}))
	return c.ID, rolledBack
}
