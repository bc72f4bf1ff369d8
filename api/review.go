package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// campaignReview is what an approver reads before approving: the patch in words, every target
// with the version it runs and what the vendor says of that version, the bench runs and their
// results, the waves with their thresholds and windows in the zone's own time, the backup
// waivers, and the digest.
type campaignReview struct {
	Patch      reviewPatch `json:"patch"`
	PlanDigest string      `json:"plan_digest"`
	ToVersion  string      `json:"to_version"`
	// Approvals is how many distinct approvers the plan needs; NeedsSafety, whether one must
	// hold the safety role.
	Approvals   int  `json:"approvals_required"`
	NeedsSafety bool `json:"needs_safety"`
	// Targets are the production targets in wave order; a plan of many holds the first page.
	Targets     []reviewTarget     `json:"targets" doc:"The production targets in wave order: all of them, or the first 100 when there are more (target_count); the rest are read from GET /api/v1/campaigns/{campaignID}/review/targets?after=targets_next"`
	TargetCount int                `json:"target_count" doc:"How many production targets the plan has"`
	TargetsNext string             `json:"targets_next,omitempty" doc:"The cursor of the targets after these (?after= of GET /api/v1/campaigns/{campaignID}/review/targets); absent when targets holds them all"`
	Bench       []reviewBenchRun   `json:"bench"`
	Uncovered   []string           `json:"uncovered" doc:"The names of the production targets no bench run covers: the first 100 when there are more (plan_counts.uncovered)"`
	Waves       []reviewWave       `json:"waves"`
	Acceptance  *domain.Acceptance `json:"acceptance,omitempty" doc:"The acceptance of targets whose version the vendor does not state; its asset_ids hold the first 100 when there are more (plan_counts.accepted_not_stated)"`
	// Waivers are the plan's backup waivers: these assets deploy even when their backup fails,
	// and a failure cannot be rolled back.
	Waivers []reviewWaiver `json:"waivers" doc:"The plan's backup waivers: the first 100 when there are more (plan_counts.waivers)"`
}

type reviewWaiver struct {
	AssetID string      `json:"asset_id"`
	Name    string      `json:"name"`
	By      string      `json:"by"`
	Role    domain.Role `json:"role"`
	Reason  string      `json:"reason"`
	At      time.Time   `json:"at"`
}

type reviewPatch struct {
	ID              string       `json:"id"`
	Title           string       `json:"title"`
	Vendor          string       `json:"vendor"`
	Product         string       `json:"product"`
	Version         string       `json:"version"`
	FixedVersion    string       `json:"fixed_version"`
	CVEs            []domain.CVE `json:"cves"`
	MaxCVSS         float64      `json:"max_cvss"`
	RestartRequired string       `json:"restart_required,omitempty"`
}

type reviewTarget struct {
	AssetID        string               `json:"asset_id"`
	Name           string               `json:"name"`
	ZoneName       string               `json:"zone_name"`
	SLT            int                  `json:"sl_t"`
	SafetyCritical bool                 `json:"safety_critical"`
	FromVersion    string               `json:"from_version"`
	Compatibility  domain.Compatibility `json:"compatibility"`
	Accepted       bool                 `json:"accepted_not_stated,omitempty"`
	// CoveredBy names the test-bench asset whose run covers this target's version ("" when none).
	CoveredBy string `json:"covered_by"`
	Wave      int    `json:"wave"`
}

type reviewBenchRun struct {
	AssetID     string    `json:"asset_id"`
	Name        string    `json:"name"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	Prepare     string    `json:"prepare"`
	State       string    `json:"state"`
	Result      string    `json:"result,omitempty"`
	At          time.Time `json:"at"`
	// Checks are what the run verified.
	Checks []string `json:"checks"`
}

type reviewWave struct {
	N              int          `json:"n"`
	ZoneName       string       `json:"zone_name"`
	ErrorThreshold int          `json:"error_threshold"`
	Assets         []string     `json:"assets" doc:"The names of the wave's targets in the order they run: the first 100 when there are more (asset_count)"`
	AssetCount     int          `json:"asset_count" doc:"How many targets the wave has"`
	Window         reviewWindow `json:"window"`
}

// reviewWindow is a wave's maintenance window with the span the engine would use now.
type reviewWindow struct {
	Cron        string `json:"cron"`
	Duration    string `json:"duration" doc:"ISO 8601 duration (PT4H)"`
	TimeZone    string `json:"time_zone"`
	MaxParallel int    `json:"max_parallel"`
	// NextStart and NextEnd are the span the engine would use now, in the zone's time; OpenNow
	// is set when it is open already (NextStart is then when it opened).
	NextStart string `json:"next_start,omitempty" doc:"When the window opens next (or opened, when open_now), RFC 3339 in the zone's time"`
	NextEnd   string `json:"next_end,omitempty" doc:"When that opening ends, RFC 3339 in the zone's time"`
	OpenNow   bool   `json:"open_now"`
	// Continues is set when the window is still open at NextEnd (it opens again before it
	// closes, as one that opens every minute for an hour does): NextEnd is not a closing time.
	Continues bool `json:"continues,omitempty" doc:"The window is still open at next_end (it opens again before it closes): next_end is not a closing time"`
}

// planCounts says how long the plan's lists are. The campaign's answer holds the first 100
// entries of each; the whole plan is read from GET /api/v1/campaigns/{campaignID}/plan.
type planCounts struct {
	Targets   int  `json:"targets" doc:"The plan's targets, test-bench runs included"`
	Uncovered int  `json:"uncovered" doc:"Production targets no bench run covers"`
	Accepted  int  `json:"accepted_not_stated" doc:"Targets accepted although the vendor's compatibility statement does not mention their version"`
	Waivers   int  `json:"waivers" doc:"Targets whose verified backup is waived"`
	Shortened bool `json:"shortened" doc:"Some list of plan or review is longer than 100 and holds its first 100 entries here: the whole plan is at GET /api/v1/campaigns/{campaignID}/plan and the review's targets at /review/targets"`
}

// planSummary is what a campaign's answer reads of the plan stored with it, made once per plan
// digest: the plan with its long lists cut to their first entries, their lengths, and the
// parts of the approver's review that come from the plan alone.
type planSummary struct {
	digest string
	plan   domain.Plan
	counts planCounts
	// review is nil for a plan made before plans carried names, bench runs and waves.
	review *reviewPlan
	// cost is what keeping the summary costs, in targets.
	cost int
	// versions are the distinct versions the plan's targets run, for the holds that apply.
	versions []string
}

// reviewPlan is the review as far as the plan says it; the bench runs' results, the patch and
// the windows' next openings are read for each answer.
type reviewPlan struct {
	policy domain.Policy
	// targets are every production target in wave order, for the pages of review/targets.
	targets    []reviewTarget
	bench      []domain.BenchRun
	uncovered  []string
	waves      []reviewWave
	windows    []domain.Window
	acceptance *domain.Acceptance
	waivers    []reviewWaiver
}

// summarize parses a campaign's stored plan and summarizes it.
func summarize(c store.Campaign) (*planSummary, error) {
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
		return nil, fmt.Errorf("campaign %s: reading its plan: %w", c.ID, err)
	}
	sum := &planSummary{digest: c.PlanDigest, cost: len(plan.Targets) + 1}
	sum.plan, sum.counts = shortPlan(plan)
	sum.versions = planVersions(plan)
	if !plan.Complete() {
		return sum, nil
	}
	byID := make(map[string]int, len(plan.Targets))
	for i, t := range plan.Targets {
		byID[t.AssetID] = i
	}
	target := func(id string) domain.PlanTarget {
		if i, ok := byID[id]; ok {
			return plan.Targets[i]
		}
		return domain.PlanTarget{}
	}
	rp := &reviewPlan{policy: domain.PolicyFor(plan, 0), bench: slices.Clone(plan.Bench), acceptance: sum.plan.Acceptance,
		targets: make([]reviewTarget, 0, len(plan.Targets)-len(plan.Bench)), uncovered: []string{}, waves: []reviewWave{}, waivers: []reviewWaiver{}}
	for _, w := range sum.plan.Waivers {
		rw := reviewWaiver{AssetID: w.AssetID, Name: w.Name, By: w.By, Role: w.Role, Reason: w.Reason, At: w.At}
		if rw.Name == "" {
			rw.Name = target(w.AssetID).Name
		}
		rp.waivers = append(rp.waivers, rw)
	}
	for _, id := range sum.plan.Uncovered {
		rp.uncovered = append(rp.uncovered, target(id).Name)
	}
	for i, w := range plan.Waves {
		rw := reviewWave{N: i + 1, ZoneName: w.ZoneName, ErrorThreshold: w.ErrorThreshold, Assets: []string{}, AssetCount: len(w.AssetIDs)}
		var win domain.Window
		if len(w.AssetIDs) > 0 {
			// Every target of a wave is in the wave's zone: its window is read once.
			win = target(w.AssetIDs[0]).Window
			rw.Window.Cron, rw.Window.Duration, rw.Window.TimeZone, rw.Window.MaxParallel = win.Cron, domain.FormatISODuration(time.Duration(win.Duration)), win.TimeZone, win.MaxParallel
		}
		for j, id := range w.AssetIDs {
			t := target(id)
			if j < campaignFirstItems {
				rw.Assets = append(rw.Assets, t.Name)
			}
			cov := ""
			if t.Bench != "" {
				cov = target(t.Bench).Name
			}
			rp.targets = append(rp.targets, reviewTarget{AssetID: id, Name: t.Name, ZoneName: t.ZoneName, SLT: t.SLT, SafetyCritical: t.SafetyCritical,
				FromVersion: t.FromVersion, Compatibility: t.Compatibility, Accepted: t.Accepted, CoveredBy: cov, Wave: i + 1})
		}
		rp.waves = append(rp.waves, rw)
		rp.windows = append(rp.windows, win)
	}
	sum.review = rp
	return sum, nil
}

// shortPlan is p with its long lists cut to their first campaignFirstItems entries (copied, so
// a kept summary does not hold the whole plan), and their lengths.
func shortPlan(p domain.Plan) (domain.Plan, planCounts) {
	c := planCounts{Targets: len(p.Targets), Uncovered: len(p.Uncovered), Waivers: len(p.Waivers)}
	if p.Acceptance != nil {
		c.Accepted = len(p.Acceptance.AssetIDs)
	}
	out := p
	out.Targets = firstOf(p.Targets, &c.Shortened)
	out.Uncovered = firstOf(p.Uncovered, &c.Shortened)
	out.Waivers = firstOf(p.Waivers, &c.Shortened)
	out.Bench = slices.Clone(p.Bench)
	if p.Acceptance != nil {
		a := *p.Acceptance
		a.AssetIDs = firstOf(a.AssetIDs, &c.Shortened)
		out.Acceptance = &a
	}
	if p.Waves != nil {
		out.Waves = make([]domain.PlanWave, len(p.Waves))
		for i, w := range p.Waves {
			w.AssetIDs = firstOf(w.AssetIDs, &c.Shortened)
			out.Waves[i] = w
		}
	}
	return out, c
}

// firstOf copies the first campaignFirstItems entries of s, and sets *cut when s has more.
func firstOf[T any](s []T, cut *bool) []T {
	if len(s) > campaignFirstItems {
		*cut = true
		s = s[:campaignFirstItems]
	}
	return slices.Clone(s)
}

// planSummaries keeps the summaries of the plans read lately, by campaign and plan digest. A
// plan is stored whole — megabytes for a campaign of 10,000 assets — and never changes under
// its digest, so a campaign's answer reads and parses it once per digest instead of on every
// request; a request that finds another reading the same plan waits for it. The oldest
// summaries are let go once they hold more than budget targets.
type planSummaries struct {
	mu      sync.Mutex
	entries map[planKey]*planEntry
	order   []planKey // kept summaries, oldest first
	held    int       // targets the kept summaries hold
	budget  int
}

type planKey struct{ campaign, digest string }

// planEntry is a summary being read (ready open) or read.
type planEntry struct {
	ready chan struct{}
	sum   *planSummary
	err   error
}

// planSummaryBudget bounds the targets the kept summaries hold (a few hundred bytes each).
const planSummaryBudget = 200_000

func newPlanSummaries(budget int) *planSummaries {
	return &planSummaries{entries: map[planKey]*planEntry{}, budget: budget}
}

// campaign reads a campaign without its plan, and the summary of the plan it has. A nil
// receiver keeps nothing: it reads and summarizes the plan each time.
func (ps *planSummaries) campaign(ctx context.Context, st *store.Store, id string) (store.Campaign, *planSummary, error) {
	for range 3 {
		c, err := st.CampaignHead(ctx, id)
		if err != nil {
			return store.Campaign{}, nil, err
		}
		sum, err := ps.summary(ctx, st, c)
		if err != nil {
			return store.Campaign{}, nil, err
		}
		if sum.digest == c.PlanDigest {
			return c, sum, nil
		}
		// The plan changed between reading the campaign and reading its plan: read both again,
		// so the answer's plan_digest is the digest of the plan it shows.
	}
	return store.Campaign{}, nil, fmt.Errorf("campaign %s: its plan changed three times while it was read", id)
}

// summary is the summary of the plan of c: kept, being read by another request, or read now.
func (ps *planSummaries) summary(ctx context.Context, st *store.Store, c store.Campaign) (*planSummary, error) {
	if ps == nil {
		return readSummary(ctx, st, c.ID)
	}
	key := planKey{c.ID, c.PlanDigest}
	ps.mu.Lock()
	e, found := ps.entries[key]
	if !found {
		e = &planEntry{ready: make(chan struct{})}
		ps.entries[key] = e
	}
	ps.mu.Unlock()
	if found {
		select {
		case <-e.ready:
			return e.sum, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// Those waiting for it need it even when this request is cancelled.
	e.sum, e.err = readSummary(context.WithoutCancel(ctx), st, c.ID)
	ps.mu.Lock()
	if e.err != nil || e.sum.digest != key.digest {
		delete(ps.entries, key) // not kept: the next request reads it again
	} else {
		ps.keep(key, e.sum.cost)
	}
	ps.mu.Unlock()
	close(e.ready)
	return e.sum, e.err
}

// keep records a read summary and lets go of the campaign's earlier plans and, beyond the
// budget, of the oldest summaries. ps.mu is held.
func (ps *planSummaries) keep(key planKey, cost int) {
	ps.order = slices.DeleteFunc(ps.order, func(k planKey) bool {
		if k.campaign != key.campaign {
			return false
		}
		ps.held -= ps.entries[k].sum.cost
		delete(ps.entries, k)
		return true
	})
	ps.order = append(ps.order, key)
	ps.held += cost
	for ps.held > ps.budget && len(ps.order) > 1 {
		old := ps.order[0]
		ps.order = ps.order[1:]
		ps.held -= ps.entries[old].sum.cost
		delete(ps.entries, old)
	}
}

// readSummary reads a campaign's plan and summarizes it.
func readSummary(ctx context.Context, st *store.Store, id string) (*planSummary, error) {
	c, err := st.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	return summarize(c)
}

// review builds the approver's view of a campaign whose plan was computed from the live
// inventory; plans made before plans carried names and bench runs get none (nil). What the plan
// says comes from its summary; the bench runs' results, the patch and the windows' next
// openings are read now.
func (s *server) review(ctx context.Context, c store.Campaign, sum *planSummary) (*campaignReview, error) {
	rp := sum.review
	if rp == nil {
		return nil, nil
	}
	p, err := s.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return nil, err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return nil, err
	}
	rv := &campaignReview{PlanDigest: c.PlanDigest, ToVersion: sum.plan.ToVersion, Approvals: rp.policy.Approvals, NeedsSafety: rp.policy.NeedsSafety,
		Targets: rp.targets[:min(len(rp.targets), campaignFirstItems)], TargetCount: len(rp.targets), Bench: []reviewBenchRun{}, Uncovered: rp.uncovered,
		Waves: make([]reviewWave, len(rp.waves)), Acceptance: rp.acceptance, Waivers: rp.waivers}
	if len(rp.targets) > campaignFirstItems {
		rv.TargetsNext = encodeCursor(reviewTargetKey(sum.digest, campaignFirstItems-1))
	}
	rv.Patch = reviewPatch{ID: p.ID, Title: m.Title, Vendor: m.Vendor, Product: m.Product, Version: m.Version, FixedVersion: m.FixedVersion,
		CVEs: m.CVEs, MaxCVSS: m.MaxCVSS(), RestartRequired: m.RestartRequired}
	if rv.Patch.CVEs == nil {
		rv.Patch.CVEs = []domain.CVE{}
	}
	if v, err := s.Store.Vendor(ctx, p.VendorID); err == nil && v.DisplayName != "" {
		rv.Patch.Vendor = v.DisplayName
	}
	ids := make([]string, len(rp.bench))
	for i, r := range rp.bench {
		ids[i] = r.AssetID
	}
	benchRows, err := s.Store.CampaignAssetsOf(ctx, c.ID, ids)
	if err != nil {
		return nil, err
	}
	rows := map[string]store.CampaignAsset{}
	for _, x := range benchRows {
		rows[x.AssetID] = x
	}
	for _, r := range rp.bench {
		row := rows[r.AssetID]
		run := reviewBenchRun{AssetID: r.AssetID, Name: r.Name, FromVersion: r.FromVersion, ToVersion: sum.plan.ToVersion, Prepare: r.Prepare,
			State: row.State, Result: row.Error, At: row.UpdatedAt, Checks: []string{}}
		if row.State == string(domain.AssetDone) {
			// What the run recorded: the version the device reported before the change, the
			// verified backup, and the version verified after it.
			run.Checks = append(run.Checks, "device read before the change: "+row.FromVersion,
				"verified backup "+domain.ShortHash(row.BackupSHA256), "deployed and verified: reports "+row.ToVersion+", healthy")
		}
		rv.Bench = append(rv.Bench, run)
	}
	now := s.Store.Now()
	for i, rw := range rp.waves {
		if win := rp.windows[i]; rw.AssetCount > 0 {
			if spans := win.Spans(now, 1); len(spans) == 1 {
				if loc, err := time.LoadLocation(win.TimeZone); err == nil {
					rw.Window.NextStart, rw.Window.NextEnd = spans[0].Start.In(loc).Format(time.RFC3339), spans[0].End.In(loc).Format(time.RFC3339)
					rw.Window.OpenNow, rw.Window.Continues = spans[0].OpenNow, spans[0].Continues
				}
			}
		}
		rv.Waves[i] = rw
	}
	return rv, nil
}

// reviewTargetKey is the cursor key of the review's target at index i of the plan with digest:
// a cursor belongs to one plan.
func reviewTargetKey(digest string, i int) string { return cursorKey(digest, strconv.Itoa(i)) }

// listReviewTargets answers a page of the review's targets of a campaign's plan, in wave order.
func (s *server) listReviewTargets(plans *planSummaries) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, sum, err := plans.campaign(r.Context(), s.Store, chi.URLParam(r, "campaignID"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if sum.review == nil {
			writeProblem(w, r, problem{Status: http.StatusNotFound, Detail: fmt.Sprintf(
				"campaign %s has a plan made before plans carried a review, so it has no review targets; read its plan at GET /api/v1/campaigns/%s/plan", c.ID, c.ID)})
			return
		}
		v := &domain.ValidationError{What: "query"}
		pr := readPage(r, v)
		from := 0
		if pr.After != "" {
			parts, ok := splitCursor(pr.After, 2)
			i := -1
			if ok {
				if n, err := strconv.Atoi(parts[1]); err == nil {
					i = n
				}
			}
			switch {
			case i < 0:
				v.Add("after", "is not a cursor of a plan's targets; pass the next of the previous page (or the review's targets_next) as it was, or leave after out for the first page")
			case parts[0] != sum.digest:
				v.Add("after", "is a cursor of an earlier plan of this campaign: the plan changed since (its plan_digest is now %s) and approvals of the earlier plan no longer count; read the targets again from the first page", c.PlanDigest)
			default:
				from = i + 1
			}
		}
		if err := v.Err(); err != nil {
			s.fail(w, r, err)
			return
		}
		ts := sum.review.targets
		from = min(from, len(ts))
		end := min(from+pr.Limit, len(ts))
		out := page[reviewTarget]{Items: ts[from:end]}
		if end < len(ts) {
			out.Next = encodeCursor(reviewTargetKey(sum.digest, end-1))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// getCampaignPlan answers a campaign's whole plan.
func (s *server) getCampaignPlan(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
		s.internal(w, r, fmt.Errorf("campaign %s: reading its plan: %w", c.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, plan)
}
