package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// campaignPageDoc is the part of a campaign's answer that says how large it is.
type campaignPageDoc struct {
	ID         string `json:"id"`
	PlanDigest string `json:"plan_digest"`
	Plan       struct {
		Targets []struct {
			AssetID string `json:"asset_id"`
		} `json:"targets"`
		Waves []struct {
			AssetIDs []string `json:"asset_ids"`
		} `json:"waves"`
	} `json:"plan"`
	PlanCounts struct {
		Targets   int  `json:"targets"`
		Shortened bool `json:"shortened"`
	} `json:"plan_counts"`
	Assets      []campaignAssetDoc `json:"assets"`
	AssetsNext  string             `json:"assets_next"`
	AssetCounts struct {
		Total   int            `json:"total"`
		ByState map[string]int `json:"by_state"`
		Waves   []struct {
			Wave    int            `json:"wave"`
			Total   int            `json:"total"`
			ByState map[string]int `json:"by_state"`
		} `json:"waves"`
	} `json:"asset_counts"`
	Review struct {
		PlanDigest  string          `json:"plan_digest"`
		Targets     []reviewRowDoc  `json:"targets"`
		TargetCount int             `json:"target_count"`
		TargetsNext string          `json:"targets_next"`
		Waves       []reviewWaveDoc `json:"waves"`
	} `json:"review"`
}

type campaignAssetDoc struct {
	AssetID   string `json:"asset_id"`
	Name      string `json:"name"`
	Wave      int    `json:"wave"`
	TestBench bool   `json:"test_bench"`
	State     string `json:"state"`
}

type reviewRowDoc struct {
	AssetID   string `json:"asset_id"`
	Name      string `json:"name"`
	Wave      int    `json:"wave"`
	CoveredBy string `json:"covered_by"`
}

type reviewWaveDoc struct {
	Assets     []string `json:"assets"`
	AssetCount int      `json:"asset_count"`
}

// TestCampaignAtAnySize: a campaign of 1,250 production assets answers with counts by state and
// wave, the first 100 assets and the cursor of the rest, and its plan and review cut to their
// first 100 targets with the counts and the ways to read the rest; the pages of its assets (all
// and by state) and of its review's targets give each exactly once, in the order the campaign
// runs them, and the whole plan has the campaign's digest. A campaign of three keeps answering
// with everything. Wrong parameters are refused with 422 naming them, unknown campaigns with
// 404; staff read it all, vendors nothing. On SQLite and on PostgreSQL.
func TestCampaignAtAnySize(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testCampaignAtAnySize(t, backend == "postgres") })
	}
}

func testCampaignAtAnySize(t *testing.T, postgres bool) {
	e := newEnv(t, envOptions{postgres: postgres})
	ctx := context.Background()
	const n = 1250
	seed := newCampaignSeed(t, e.store)
	as := seed.hmis(t, "large-hmi", n)
	big, plan := seed.campaign(t, "HMI fix, whole plant", as, func(i int, ca *store.CampaignAsset) {
		switch {
		case i%10 == 0:
			ca.State = string(domain.AssetDone)
		case i%97 == 0:
			ca.State = string(domain.AssetRolledBack)
		}
	})
	small, smallPlan := seed.campaign(t, "HMI fix, three", seed.hmis(t, "small-hmi", 3), nil)

	var c campaignPageDoc
	if code := e.call("GET", "/api/v1/campaigns/"+big.ID, e.tokens.Approver, nil, &c); code != http.StatusOK {
		t.Fatalf("GET the campaign of %d: %d", n, code)
	}
	// Counts: one grouped query's worth, by state and by wave.
	want := map[string]int{}
	wantWave := map[int]int{}
	for _, ca := range seed.targets[big.ID] {
		want[ca.State]++
		wantWave[ca.Wave]++
	}
	if c.AssetCounts.Total != n+1 || !mapsEqual(c.AssetCounts.ByState, want) || len(c.AssetCounts.Waves) != len(wantWave) {
		t.Errorf("asset_counts = %+v, want %d in all, %v, %d waves", c.AssetCounts, n+1, want, len(wantWave))
	}
	for _, w := range c.AssetCounts.Waves {
		if w.Total != wantWave[w.Wave] {
			t.Errorf("wave %d counts %d assets, want %d", w.Wave, w.Total, wantWave[w.Wave])
		}
	}
	if len(c.Assets) != 100 || c.AssetsNext == "" || c.Assets[0].Wave != 0 || !c.Assets[0].TestBench || c.Assets[1].Name == "" {
		t.Errorf("the answer's assets: %d, next %q, first %+v; want the bench run first and 100 with a next", len(c.Assets), c.AssetsNext, c.Assets[:min(2, len(c.Assets))])
	}
	if len(c.Plan.Targets) != 100 || c.PlanCounts.Targets != n+1 || !c.PlanCounts.Shortened {
		t.Errorf("plan: %d targets shown, counts %+v; want 100 of %d, shortened", len(c.Plan.Targets), c.PlanCounts, n+1)
	}
	for i, w := range c.Plan.Waves {
		if len(w.AssetIDs) != min(100, len(plan.Waves[i].AssetIDs)) {
			t.Errorf("plan wave %d shows %d asset ids, want %d", i+1, len(w.AssetIDs), min(100, len(plan.Waves[i].AssetIDs)))
		}
	}
	if c.Review.TargetCount != n || len(c.Review.Targets) != 100 || c.Review.TargetsNext == "" || c.Review.PlanDigest != big.PlanDigest {
		t.Errorf("review: %d of %d targets, next %q, digest %s; want 100 of %d with a next and %s", len(c.Review.Targets), c.Review.TargetCount, c.Review.TargetsNext, c.Review.PlanDigest, n, big.PlanDigest)
	}
	inWaves := 0
	for i, w := range c.Review.Waves {
		inWaves += w.AssetCount
		if w.AssetCount != len(plan.Waves[i].AssetIDs) || len(w.Assets) != min(100, w.AssetCount) {
			t.Errorf("review wave %d: %d names of %d, want %d", i+1, len(w.Assets), w.AssetCount, len(plan.Waves[i].AssetIDs))
		}
	}
	if inWaves != n {
		t.Errorf("the review's waves hold %d targets, want %d", inWaves, n)
	}

	// The assets, page by page from the answer's cursor, then by state.
	wantOrder := slices.Clone(seed.targets[big.ID])
	slices.SortFunc(wantOrder, func(a, b store.CampaignAsset) int {
		if a.Wave != b.Wave {
			return a.Wave - b.Wave
		}
		return strings.Compare(a.AssetID, b.AssetID)
	})
	got := append([]campaignAssetDoc(nil), c.Assets...)
	got = append(got, readPages[campaignAssetDoc](t, e, "/api/v1/campaigns/"+big.ID+"/assets", c.AssetsNext, 0)...)
	if len(got) != len(wantOrder) {
		t.Fatalf("the pages of assets hold %d, want %d", len(got), len(wantOrder))
	}
	for i, a := range got {
		if a.AssetID != wantOrder[i].AssetID || a.State != wantOrder[i].State || a.Name == "" {
			t.Fatalf("asset %d of the pages is %+v, want %s (%s)", i, a, wantOrder[i].AssetID, wantOrder[i].State)
		}
	}
	for state, count := range want {
		rows := readPages[campaignAssetDoc](t, e, "/api/v1/campaigns/"+big.ID+"/assets?state="+state, "", 37)
		if len(rows) != count || slices.ContainsFunc(rows, func(a campaignAssetDoc) bool { return a.State != state }) {
			t.Errorf("?state=%s: %d assets, want %d, all %s", state, len(rows), count, state)
		}
	}

	// The review's targets, page by page, are the plan's waves in order.
	var wantTargets []string
	for _, w := range plan.Waves {
		wantTargets = append(wantTargets, w.AssetIDs...)
	}
	targets := append([]reviewRowDoc(nil), c.Review.Targets...)
	targets = append(targets, readPages[reviewRowDoc](t, e, "/api/v1/campaigns/"+big.ID+"/review/targets", c.Review.TargetsNext, 0)...)
	ids := make([]string, len(targets))
	for i, rt := range targets {
		ids[i] = rt.AssetID
		if rt.Name == "" || rt.CoveredBy == "" || rt.Wave == 0 {
			t.Fatalf("review target %d: %+v, want its name, the bench that covers it and its wave", i, rt)
		}
	}
	if !slices.Equal(ids, wantTargets) {
		t.Errorf("the review's targets are %d in another order than the plan's waves (%d)", len(ids), len(wantTargets))
	}

	// The whole plan is the one approved: its digest is the campaign's.
	var whole domain.Plan
	if code := e.call("GET", "/api/v1/campaigns/"+big.ID+"/plan", e.tokens.Approver, nil, &whole); code != http.StatusOK || len(whole.Targets) != n+1 || whole.Digest() != big.PlanDigest {
		t.Errorf("GET the plan: %d, %d targets, digest %s; want %d targets and %s", code, len(whole.Targets), whole.Digest(), n+1, big.PlanDigest)
	}

	// A small campaign answers whole, as before.
	var sc campaignPageDoc
	if code := e.call("GET", "/api/v1/campaigns/"+small.ID, e.tokens.Engineer, nil, &sc); code != http.StatusOK || len(sc.Assets) != 4 || sc.AssetsNext != "" ||
		sc.PlanCounts.Shortened || len(sc.Plan.Targets) != len(smallPlan.Targets) || len(sc.Review.Targets) != 3 || sc.Review.TargetsNext != "" {
		t.Errorf("the campaign of three: %d, %d assets, next %q, plan %d targets (shortened %v), review %d targets; want everything",
			code, len(sc.Assets), sc.AssetsNext, len(sc.Plan.Targets), sc.PlanCounts.Shortened, len(sc.Review.Targets))
	}

	t.Run("a changed plan", func(t *testing.T) {
		w := domain.Window{Cron: "0 4 * * 6", Duration: domain.Duration(3 * 3600e9), TimeZone: "Europe/Zurich", MaxParallel: 3}
		digest, changed, err := e.store.ReplanWindow(ctx, big.ID, "zone_packaging", w, store.Event{Actor: "test", Role: "engineer", Action: "campaign.replanned", Details: map[string]any{}})
		if err != nil || !changed {
			t.Fatalf("replan: %v, changed %v", err, changed)
		}
		var after campaignPageDoc
		if code := e.call("GET", "/api/v1/campaigns/"+big.ID, e.tokens.Approver, nil, &after); code != http.StatusOK || after.PlanDigest != digest || after.Review.PlanDigest != digest {
			t.Errorf("after the replan: %d, digest %s, review's %s; want %s", code, after.PlanDigest, after.Review.PlanDigest, digest)
		}
		var p problemDoc
		if code := e.call("GET", "/api/v1/campaigns/"+big.ID+"/review/targets?after="+url.QueryEscape(c.Review.TargetsNext), e.tokens.Approver, nil, &p); code != http.StatusUnprocessableEntity ||
			!hasField(p, "after", "plan changed since") {
			t.Errorf("a cursor of the earlier plan: %d %+v, want 422 naming after", code, p)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		base := "/api/v1/campaigns/" + big.ID
		for _, tc := range []struct{ path, field, text string }{
			{base + "/assets?state=exploded", "state", "exploded"},
			{base + "/assets?after=bm90LWEtY3Vyc29y", "after", "cursor"},
			{base + "/assets?after=" + url.QueryEscape(c.Review.TargetsNext), "after", "not a cursor of a campaign's assets"},
			{base + "/assets?limit=0", "limit", "1 to 1000"},
			{base + "/assets?wave=1", "wave", ""},
			{base + "/review/targets?after=" + url.QueryEscape(c.AssetsNext), "after", ""},
			{base + "/review/targets?limit=1001", "limit", "1 to 1000"},
		} {
			var p problemDoc
			if code := e.call("GET", tc.path, e.tokens.Engineer, nil, &p); code != http.StatusUnprocessableEntity || !hasField(p, tc.field, tc.text) {
				t.Errorf("GET %s: %d %+v, want 422 naming %s", tc.path, code, p, tc.field)
			}
		}
		for _, path := range []string{"/api/v1/campaigns/cmp_unknown/assets", "/api/v1/campaigns/cmp_unknown/plan", "/api/v1/campaigns/cmp_unknown/review/targets"} {
			if code := e.call("GET", path, e.tokens.Engineer, nil, nil); code != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, code)
			}
		}
	})

	t.Run("who reads", func(t *testing.T) {
		for _, path := range []string{"/assets", "/plan", "/review/targets"} {
			for role, token := range map[string]string{"engineer": e.tokens.Engineer, "approver": e.tokens.Approver, "safety": e.tokens.Safety, "auditor": e.tokens.Auditor, "admin": e.tokens.Admin} {
				if code := e.call("GET", "/api/v1/campaigns/"+small.ID+path, token, nil, nil); code != http.StatusOK {
					t.Errorf("%s reads %s: %d, want 200", role, path, code)
				}
			}
			if code := e.call("GET", "/api/v1/campaigns/"+small.ID+path, e.tokens.Vendor, nil, nil); code != http.StatusForbidden {
				t.Errorf("a vendor reads %s: %d, want 403 as for the campaign", path, code)
			}
		}
	})
}

// readPages reads the pages of path from the cursor after ("" for the first), limit items a
// page (0: the default), and checks each page but the last is full.
func readPages[T any](t *testing.T, e *env, path, after string, limit int) []T {
	t.Helper()
	var out []T
	for pages := 0; ; pages++ {
		u, _ := url.Parse(path)
		q := u.Query()
		if after != "" {
			q.Set("after", after)
		}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		u.RawQuery = q.Encode()
		var pg struct {
			Items []T    `json:"items"`
			Next  string `json:"next"`
		}
		if code := e.call("GET", u.String(), e.tokens.Auditor, nil, &pg); code != http.StatusOK {
			t.Fatalf("GET %s: %d", u, code)
		}
		out = append(out, pg.Items...)
		if pg.Next == "" {
			return out
		}
		full := limit
		if full == 0 {
			full = 100
		}
		if len(pg.Items) != full {
			t.Fatalf("GET %s: a page of %d before the last, want %d", u, len(pg.Items), full)
		}
		after = pg.Next
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// campaignSeed writes campaigns straight into the store, as the API plans them, for tests and
// benchmarks that need more assets than they can wait for the engine to deploy.
type campaignSeed struct {
	st    *store.Store
	patch store.Patch
	m     *domain.Manifest
	zones map[string]store.Zone
	bench store.Asset
	// targets are each seeded campaign's rows, as written.
	targets map[string][]store.CampaignAsset
}

// newCampaignSeed adds a qualified patch of the demo's ViewPanel HMI (V16.0.2, fixing the
// V16.0.1 the demo's HMIs and its HMI test bench run) to the store of the demo plant.
func newCampaignSeed(tb testing.TB, st *store.Store) *campaignSeed {
	tb.Helper()
	ctx := context.Background()
	raw, err := json.Marshal(newTestPatch(tb, "V16.0.2", 1000).manifest)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := domain.ParseManifest(raw)
	if err != nil {
		tb.Fatal(err)
	}
	p := store.Patch{ID: store.NewID("pat"), VendorID: "vnd_acme", ProductID: "prd_acme_hmi", PatchRef: m.PatchID, Version: m.Version, Title: m.Title,
		Status: string(domain.PatchQualified), Manifest: string(raw), ManifestSHA256: sha(raw), Signature: "-", KeyFingerprint: "-", SubmittedBy: "acme-release",
		CreatedAt: st.Now(), UpdatedAt: st.Now()}
	if err := st.DB().Create(&p).Error; err != nil {
		tb.Fatal(err)
	}
	zs, err := st.Zones(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	s := &campaignSeed{st: st, patch: p, m: m, zones: map[string]store.Zone{}, targets: map[string][]store.CampaignAsset{}}
	for _, z := range zs {
		s.zones[z.ID] = z
	}
	if s.bench, err = st.Asset(ctx, "ast_bench-hmi-01"); err != nil {
		tb.Fatal(err)
	}
	return s
}

// hmis adds n ViewPanel HMIs running V16.0.1, named prefix-00000 on, over the three
// production zones of the demo plant (three waves).
func (s *campaignSeed) hmis(tb testing.TB, prefix string, n int) []store.Asset {
	tb.Helper()
	zones := []string{"zone_packaging", "zone_process", "zone_dmz"}
	as := make([]store.Asset, n)
	for i := range as {
		name := fmt.Sprintf("%s-%05d", prefix, i)
		as[i] = store.Asset{ID: "ast_" + name, ZoneID: zones[i%len(zones)], ProductID: "prd_acme_hmi", Name: name,
			InstalledVersion: "V16.0.1", Criticality: 1 + i%4, Adapter: "simulator"}
	}
	ev := store.Event{Actor: "test-setup", Role: "system", Action: "asset.imported", Details: map[string]any{"rows": n}}
	if err := s.st.CreateAssets(context.Background(), as, ev); err != nil {
		tb.Fatal(err)
	}
	return as
}

// campaign plans a campaign of the assets and the HMI bench as the API does and writes it
// through the store, awaiting approval, with its targets (change, when not nil, sets the state
// of the i-th production target) and their claims.
func (s *campaignSeed) campaign(tb testing.TB, name string, as []store.Asset, change func(i int, ca *store.CampaignAsset)) (store.Campaign, domain.Plan) {
	tb.Helper()
	ctx := context.Background()
	candidate := func(a store.Asset) domain.Candidate {
		z := s.zones[a.ZoneID]
		return domain.Candidate{AssetID: a.ID, Name: a.Name, ZoneID: z.ID, ZoneName: z.Name, SLT: z.SLT, TestBench: z.TestBench, SafetyCritical: a.SafetyCritical,
			Criticality: a.Criticality, RedundancyGroup: a.RedundancyGroup, InstalledVersion: a.InstalledVersion, Window: z.Window}
	}
	cands := []domain.Candidate{candidate(s.bench)}
	ids := make([]string, len(as))
	for i, a := range as {
		cands = append(cands, candidate(a))
		ids[i] = a.ID
	}
	plan, err := domain.BuildPlan(s.m, domain.PlanRequest{PatchID: s.patch.ID, ManifestSHA256: s.patch.ManifestSHA256, CreatedBy: "erin-engineer", AssetIDs: ids}, cands)
	if err != nil {
		tb.Fatal(err)
	}
	waveOf := map[string]int{}
	for i, w := range plan.Waves {
		for _, id := range w.AssetIDs {
			waveOf[id] = i + 1
		}
	}
	targets := make([]store.CampaignAsset, 0, len(plan.Targets))
	for _, t := range plan.Targets {
		ca := store.CampaignAsset{AssetID: t.AssetID, TestBench: t.TestBench, Wave: waveOf[t.AssetID], State: string(domain.AssetPending), FromVersion: t.FromVersion, ToVersion: plan.ToVersion}
		if t.TestBench {
			ca.State = string(domain.AssetDone)
		} else if change != nil {
			change(len(targets)-len(plan.Bench), &ca)
		}
		targets = append(targets, ca)
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		tb.Fatal(err)
	}
	c := store.Campaign{ID: store.NewID("cmp"), Name: name, PatchID: s.patch.ID, Status: string(domain.CampaignAwaitingApproval), CreatedBy: "erin-engineer",
		Plan: string(planJSON), PlanDigest: plan.Digest()}
	c.WorkflowID = "campaign-" + c.ID
	if err := s.st.CreateCampaign(ctx, &c, slices.Clone(targets), store.Event{Actor: "erin-engineer", Role: "engineer", Action: "campaign.created"}); err != nil {
		tb.Fatal(err)
	}
	s.targets[c.ID] = targets
	return c, plan
}
