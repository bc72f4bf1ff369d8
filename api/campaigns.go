package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/engine"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

type campaignRequest struct {
	Name    string `json:"name" api:"required" doc:"1 to 200 characters"`
	PatchID string `json:"patch_id" api:"required" doc:"A qualified patch"`
	// AssetIDs are the production assets to patch, named explicitly; the plan adds the
	// test-bench assets that cover their versions.
	AssetIDs []string `json:"asset_ids" api:"required" doc:"The production assets to patch (with the bench runs at most the server's campaign size, 100000 unless configured otherwise, and 2000 for a plan carried to an air-gapped site); the plan adds the test-bench runs that cover their versions"`
	// ErrorThreshold is how many failed assets a wave tolerates (default 0); part of the plan.
	// A wave with SL-T 3–4 or safety-critical targets tolerates none: asking for more is refused.
	ErrorThreshold *int `json:"error_threshold,omitempty" doc:"How many failed assets a wave tolerates (0 to 1000, default 0); a wave with SL-T 3–4 or safety-critical targets tolerates none"`
	// AcceptNotStated lists targets whose version the vendor's compatibility statement does not
	// mention; AcceptReason says why deploying to them is acceptable. Both are part of the plan.
	AcceptNotStated []string `json:"accept_not_stated,omitempty" doc:"Targets whose version the vendor's compatibility statement does not mention, accepted for deployment"`
	AcceptReason    string   `json:"accept_reason,omitempty" doc:"Why deploying to the accepted targets is acceptable (at most 2000 characters)"`
}

// createCampaign plans a campaign for a qualified patch from the inventory as it is now — the
// named production assets plus the test-bench runs that cover their versions — and starts its
// workflow.
func (s *server) createCampaign(w http.ResponseWriter, r *http.Request) {
	var in campaignRequest
	if err := decodeUpTo(w, r, &in, campaignBodyLimit(s.MaxCampaignAssets)); err != nil {
		s.fail(w, r, err)
		return
	}
	id, err := s.planCampaign(r, in, nil)
	if err != nil {
		s.failCampaign(w, r, err)
		return
	}
	s.writeCampaign(w, r, id, http.StatusCreated)
}

// campaignRefusal is a campaign refused for a reason the audit trail records (campaign.refused).
type campaignRefusal struct {
	status int
	detail string
}

func (e *campaignRefusal) Error() string { return e.detail }

// failCampaign answers a campaign that could not be planned: a refusal is audited.
func (s *server) failCampaign(w http.ResponseWriter, r *http.Request, err error) {
	var ref *campaignRefusal
	if errors.As(err, &ref) {
		s.refuse(w, r, ref.status, "campaign.refused", ref.detail)
		return
	}
	var held *heldRefusal
	if errors.As(err, &held) {
		s.refuseHeld(w, r, "campaign.refused", "", held.detail, held.holds)
		return
	}
	s.fail(w, r, err)
}

// planCampaign plans a campaign from in and starts its workflow, answering its id; origin, when
// set, adds to the campaign.created event where the campaign came from (an advisory decision).
// Its errors are failCampaign's to answer.
func (s *server) planCampaign(r *http.Request, in campaignRequest, origin map[string]any) (string, error) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "campaign"}
	if strings.TrimSpace(in.Name) == "" {
		v.Add("name", "is required")
	} else if n := len([]rune(in.Name)); n > 200 {
		v.Add("name", "is %d characters long; at most 200 are allowed", n)
	}
	if in.ErrorThreshold != nil && (*in.ErrorThreshold < 0 || *in.ErrorThreshold > domain.MaxErrorThreshold) {
		v.Add("error_threshold", "must be between 0 and %d, got %d", domain.MaxErrorThreshold, *in.ErrorThreshold)
	}
	if len(in.AssetIDs) > s.MaxCampaignAssets {
		v.Add("asset_ids", "lists %d assets, more than the %d one campaign may have; split it into several campaigns", len(in.AssetIDs), s.MaxCampaignAssets)
	}
	if len(in.AcceptReason) > 2000 {
		v.Add("accept_reason", "is longer than 2000 characters")
	}
	if len(in.AcceptNotStated) > s.MaxCampaignAssets {
		v.Add("accept_not_stated", "lists more than %d assets", s.MaxCampaignAssets)
	}
	p, err := s.Store.Patch(ctx, in.PatchID)
	if err != nil {
		v.Add("patch_id", "no patch %q", in.PatchID)
	} else if p.Status != string(domain.PatchQualified) {
		v.Add("patch_id", "patch %s is %s; only a qualified patch can be deployed", p.ID, p.Status)
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return "", err
	}
	cands, assets, zones, err := s.candidates(ctx, p)
	if err != nil {
		return "", err
	}
	transferSite, cands, err := s.airGapScope(ctx, in.AssetIDs, assets, zones, cands)
	if err != nil {
		return "", err
	}
	req := domain.PlanRequest{PatchID: p.ID, ManifestSHA256: p.ManifestSHA256, CreatedBy: actorOf(r).Name, AssetIDs: in.AssetIDs,
		AcceptNotStated: in.AcceptNotStated, AcceptReason: in.AcceptReason}
	if in.ErrorThreshold != nil {
		req.ErrorThreshold = *in.ErrorThreshold
	}
	plan, err := domain.BuildPlan(m, req, cands)
	if err != nil {
		return "", err
	}
	plan.TransferSite = transferSite
	if len(plan.Targets) > s.MaxCampaignAssets {
		return "", &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids",
			Message: fmt.Sprintf("the campaign would reach %d assets, more than the %d one campaign may have; list the assets of one part of the plant in asset_ids", len(plan.Targets), s.MaxCampaignAssets)}}}
	}
	if transferSite != "" && len(plan.Targets) > domain.MaxCarriedAssets {
		return "", &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids",
			Message: fmt.Sprintf("the plan for air-gapped site %s would reach %d assets, more than the %d one plan bundle carries; split it into several campaigns", transferSite, len(plan.Targets), domain.MaxCarriedAssets)}}}
	}
	var unreachable []string
	for _, t := range plan.Targets {
		as := assets[t.AssetID]
		if !adapters.NeedsEndpoint(as.Adapter) || transferSite != "" { // the site's instance reaches its devices
			continue
		}
		switch {
		case as.Endpoint == nil:
			unreachable = append(unreachable, fmt.Sprintf("%s (%s adapter) has no endpoint: set it with PUT /api/v1/assets/%s/endpoint", as.Name, as.Adapter, as.ID))
		case strings.TrimSpace(m.Install) == "" || strings.TrimSpace(m.Verify) == "":
			unreachable = append(unreachable, fmt.Sprintf("%s (%s adapter) needs the patch's install and verify steps, and the manifest lacks one: ask the vendor for a manifest with both", as.Name, as.Adapter))
		}
	}
	if len(unreachable) > 0 {
		sort.Strings(unreachable)
		return "", &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids", Message: strings.Join(unreachable, "; ")}}}
	}
	if err := s.heldPlan(ctx, p, plan); err != nil {
		return "", err
	}
	waveOf := map[string]int{} // bench targets: wave 0
	for i, pw := range plan.Waves {
		for _, id := range pw.AssetIDs {
			waveOf[id] = i + 1
		}
	}
	targets := make([]store.CampaignAsset, 0, len(plan.Targets))
	for _, t := range plan.Targets {
		targets = append(targets, store.CampaignAsset{AssetID: t.AssetID, TestBench: t.TestBench, Wave: waveOf[t.AssetID], State: string(domain.AssetPending),
			FromVersion: t.FromVersion, ToVersion: plan.ToVersion})
	}
	planJSON, _ := json.Marshal(plan)
	c := store.Campaign{ID: store.NewID("cmp"), Name: in.Name, PatchID: p.ID, Status: string(domain.CampaignDraft), CreatedBy: actorOf(r).Name,
		Plan: string(planJSON), PlanDigest: plan.Digest()}
	c.WorkflowID = workflows.CampaignWorkflowID(c.ID)
	ev := event(r, "campaign.created")
	details := map[string]any{"name": c.Name, "plan_digest": c.PlanDigest, "targets": len(targets), "bench_runs": len(plan.Bench), "uncovered": plan.Uncovered}
	if plan.Acceptance != nil {
		details["accepted_not_stated"] = plan.Acceptance
	}
	for k, val := range origin {
		details[k] = val
	}
	ev.Details = details
	if err := s.Store.CreateCampaign(ctx, &c, targets, ev); err != nil {
		var held *store.ClaimConflict
		if errors.As(err, &held) {
			return "", &campaignRefusal{status: http.StatusConflict, detail: s.claimMessage(ctx, plan, held)}
		}
		return "", err
	}
	if err := s.engine.StartCampaign(ctx, c.ID); err != nil {
		// The campaign never ran: end it, so its targets are free to be planned again.
		ev := event(r, "campaign."+string(domain.CampaignAborted))
		ev.Details = map[string]any{"reason": "the workflow engine did not accept the campaign"}
		if serr := s.Store.SetCampaignStatus(context.WithoutCancel(ctx), c.ID, domain.CampaignAborted, "the workflow engine did not accept the campaign; nothing ran: plan it again", ev); serr != nil {
			s.Logger.Error("ending a campaign that did not start failed", "err", serr, "campaign", c.ID)
		}
		return "", fmt.Errorf("start campaign workflow: %w", err)
	}
	return c.ID, nil
}

// airGapScope is the air-gapped site whose instance runs a campaign of the named assets, and
// the candidates it is planned from: a campaign of an air-gapped site's assets holds that
// site's assets only, its test-bench runs included, for the site's instance runs it all.
func (s *server) airGapScope(ctx context.Context, named []string, assets map[string]store.Asset, zones map[string]store.Zone, cands []domain.Candidate) (string, []domain.Candidate, error) {
	sites, err := s.Store.Sites(ctx)
	if err != nil {
		return "", nil, err
	}
	siteOfZone := func(zoneID string) string { return zones[zoneID].SiteID }
	gapped := map[string]bool{}
	for _, site := range sites {
		if site.DeviceWork == domain.DeviceWorkAirGapped {
			gapped[site.ID] = true
		}
	}
	bySite := map[string][]string{}
	for _, id := range named {
		if as, ok := assets[id]; ok {
			site := siteOfZone(as.ZoneID)
			bySite[site] = append(bySite[site], as.Name)
		}
	}
	var gap string
	for site := range bySite {
		if gapped[site] {
			gap = site
		}
	}
	if gap == "" {
		// The central workers reach no device of an air-gapped site: not its test bench either.
		out := make([]domain.Candidate, 0, len(cands))
		for _, c := range cands {
			if !gapped[siteOfZone(c.ZoneID)] {
				out = append(out, c)
			}
		}
		return "", out, nil
	}
	if len(bySite) > 1 {
		var parts []string
		for site, names := range bySite {
			parts = append(parts, fmt.Sprintf("%s at site %s", strings.Join(names, ", "), site))
		}
		sort.Strings(parts)
		return "", nil, &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids", Message: fmt.Sprintf(
			"site %s is air-gapped: its own instance runs a campaign of its assets, and no other site's; the assets named are %s; plan one campaign per air-gapped site",
			gap, strings.Join(parts, "; "))}}}
	}
	out := make([]domain.Candidate, 0, len(cands))
	for _, c := range cands {
		if siteOfZone(c.ZoneID) == gap {
			out = append(out, c)
		}
	}
	return gap, out, nil
}

// claimMessage names, for a person, the assets of plan that open campaigns already target.
func (s *server) claimMessage(ctx context.Context, plan domain.Plan, held *store.ClaimConflict) string {
	var parts []string
	for _, t := range plan.Targets {
		id, ok := held.Holders[t.AssetID]
		if !ok {
			continue
		}
		other := id
		if oc, err := s.Store.Campaign(ctx, id); err == nil {
			other = fmt.Sprintf("%q (%s, %s)", oc.Name, oc.ID, oc.Status)
		}
		parts = append(parts, fmt.Sprintf("%s is a target of campaign %s, which has not ended", t.Name, other))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ") + "; an asset is a target of one open campaign at a time: wait until that campaign ends, or abort it"
}

// campaignView is a campaign with its plan, the first page of its assets and their counts, and
// its approvals. A campaign of any size answers in about the same bytes: its long lists hold
// their first 100 entries, and the rest are read a page at a time.
type campaignView struct {
	store.Campaign
	Stage string `json:"stage"`
	// Plan is the plan with its long lists cut to their first entries; PlanCounts says so.
	Plan       domain.Plan `json:"plan" doc:"The plan approvers approve. Its targets, each wave's asset_ids, uncovered, waivers and the acceptance's asset_ids hold their first 100 entries when they have more (plan_counts.shortened); the whole plan is at GET /api/v1/campaigns/{campaignID}/plan"`
	PlanCounts planCounts  `json:"plan_counts"`
	// Assets is the first page of the campaign's assets; AssetCounts counts them all.
	Assets      []campaignAssetView    `json:"assets" doc:"The first 100 of the campaign's assets in the order it runs them (wave, then asset id; the test-bench runs are wave 0); the rest are read from GET /api/v1/campaigns/{campaignID}/assets?after=assets_next"`
	AssetsNext  string                 `json:"assets_next,omitempty" doc:"The cursor of the assets after these (?after= of GET /api/v1/campaigns/{campaignID}/assets); absent when assets holds them all"`
	AssetCounts campaignAssetCounts    `json:"asset_counts"`
	Approvals   []store.ApprovalRecord `json:"approvals"`
	// Operations are the engineers' pauses, resumes and aborts.
	Operations []store.OperatorAction    `json:"operations"`
	Live       *workflows.CampaignStatus `json:"live,omitempty" doc:"The workflow's own view, with ?live=1 while the campaign runs"`
	// Review is the approver's view of the plan (absent on plans made before plans carried it).
	Review *campaignReview `json:"review,omitempty"`
	// Sites are the sites of its assets whose device work runs on a site worker.
	// Advisory is the advisory decision the campaign was planned from (decisions.go).
	Advisory *campaignOrigin    `json:"advisory,omitempty" doc:"The advisory decision the campaign was planned from; absent when it was planned directly"`
	Holds    []domain.Hold      `json:"holds" doc:"The asset owner's holds on the patch that cover a release the targets run: while one applies the campaign is not approved (refused with 409, rule qualification_hold). Empty for a campaign that has ended"`
	Sites    []campaignSiteView `json:"sites" doc:"The sites of the campaign's assets whose device_work is site_worker, by name, each with its workers' presence as last recorded: \"site Plant B: no worker polling since …\" is why their device work waits. Empty when every asset's site has central device work"`
}

// campaignSummary is a campaign as the list shows it, without plan, targets and approvals.
type campaignSummary struct {
	store.Campaign
}

// listCampaigns answers a page of campaigns, newest first.
func (s *server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.CampaignFilter{Status: q.Get("status"), PatchID: q.Get("patch_id"), Limit: pr.Limit + 1}
	f.AfterCreated, f.AfterID = newestFirstAfter(pr, v)
	oneOfStates(v, "status", f.Status, domain.CampaignStatusInfo())
	if f.PatchID != "" {
		if _, err := s.Store.Patch(ctx, f.PatchID); errors.Is(err, store.ErrNotFound) {
			v.Add("patch_id", "no patch %q", f.PatchID)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	cs, err := s.Store.CampaignsPage(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := pageFrom(cs, func(c store.Campaign) string { return newestFirstKey(c.CreatedAt, c.ID) }, pr.Limit)
	out := page[campaignSummary]{Items: make([]campaignSummary, 0, len(pg.Items)), Next: pg.Next}
	for _, c := range pg.Items {
		out.Items = append(out.Items, campaignSummary{c})
	}
	writeJSON(w, http.StatusOK, out)
}

// getCampaign answers one campaign, sharing reads with other requests through reads.
func (s *server) getCampaign(reads *campaignReads) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.answerCampaign(w, r, reads, chi.URLParam(r, "campaignID"), http.StatusOK)
	}
}

// writeCampaign answers a campaign just changed, sharing no read.
func (s *server) writeCampaign(w http.ResponseWriter, r *http.Request, id string, status int) {
	s.answerCampaign(w, r, nil, id, status)
}

// answerCampaign answers a campaign. Requests for one campaign that arrive while its answer is
// being read share the next read (campaignReads), so a campaign watched from many screens is
// read once per round, never from before a request arrived.
func (s *server) answerCampaign(w http.ResponseWriter, r *http.Request, reads *campaignReads, id string, status int) {
	q := r.URL.Query().Get("live")
	live := q == "1" || q == "true"
	read := func(ctx context.Context) (campaignView, error) {
		return s.readCampaign(ctx, reads.summaries(), id, live)
	}
	var view campaignView
	var err error
	if reads == nil {
		view, err = read(r.Context())
	} else {
		view, err = reads.views.do(r.Context(), cursorKey(id, strconv.FormatBool(live)), read)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if status == http.StatusCreated {
		locateCreated(w, "campaigns", view.ID)
	}
	writeJSON(w, status, view)
}

// readCampaign reads a campaign's answer: what its plan says (from its summary), the first page
// of its assets with their counts by wave and state, the approvals, operations and sites, and
// with live the workflow's own view — a fixed number of queries whatever the campaign's size.
func (s *server) readCampaign(ctx context.Context, plans *planSummaries, id string, live bool) (campaignView, error) {
	c, sum, err := plans.campaign(ctx, s.Store, id)
	if err != nil {
		return campaignView{}, err
	}
	view := campaignView{Campaign: c, Stage: c.Status, Plan: sum.plan, PlanCounts: sum.counts}
	if view.Approvals, err = s.Store.Approvals(ctx, id); err != nil {
		return campaignView{}, err
	}
	if view.Advisory, err = s.originOf(ctx, id); err != nil {
		return campaignView{}, err
	}
	if view.Approvals == nil {
		view.Approvals = []store.ApprovalRecord{}
	}
	if view.Operations, err = s.Store.OperatorActions(ctx, id); err != nil {
		return campaignView{}, err
	}
	if view.Operations == nil {
		view.Operations = []store.OperatorAction{}
	}
	first, err := s.campaignAssetsPage(ctx, store.CampaignAssetFilter{CampaignID: c.ID}, campaignFirstItems)
	if err != nil {
		return campaignView{}, err
	}
	view.Assets, view.AssetsNext = first.Items, first.Next
	if view.AssetCounts, err = s.countAssets(ctx, c.ID); err != nil {
		return campaignView{}, err
	}
	if view.Review, err = s.review(ctx, c, sum); err != nil {
		return campaignView{}, err
	}
	if view.Holds, err = s.campaignHolds(ctx, c, sum.versions); err != nil {
		return campaignView{}, err
	}
	if view.Sites, err = s.campaignSites(ctx, c.ID); err != nil {
		return campaignView{}, err
	}
	if live && !domain.CampaignStatus(c.Status).Terminal() {
		if q, err := s.Temporal.QueryWorkflow(ctx, c.WorkflowID, "", workflows.QueryStatus); err == nil {
			var st workflows.CampaignStatus
			if q.Get(&st) == nil {
				view.Live = &st
			}
		}
	}
	return view, nil
}

// decisionWord is an approver's decision: approve or reject.
type decisionWord string

type decisionRequest struct {
	Decision   decisionWord `json:"decision" api:"required"`
	Reason     string       `json:"reason,omitempty" doc:"Why (at most 2000 characters)"`
	PlanDigest string       `json:"plan_digest" api:"required" doc:"The plan_digest of the plan the approver read; a decision on another plan is refused"`
}

// decideCampaign sends an approval or rejection to the campaign as a Temporal Update; the
// workflow's validator applies the approval policy and its refusal comes back as problem+json
// naming the rule.
func (s *server) decideCampaign(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in decisionRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if len(in.Reason) > 2000 {
		s.fail(w, r, &domain.ValidationError{What: "decision", Fields: []domain.FieldError{{Field: "reason", Message: "is longer than 2000 characters"}}})
		return
	}
	if domain.CampaignStatus(c.Status).Terminal() {
		s.refuse(w, r, http.StatusConflict, "campaign.decision_refused", fmt.Sprintf("campaign is %s; it takes no more decisions (rule: state)", c.Status))
		return
	}
	if in.Decision == "approve" && s.approvalHeld(w, r, c) {
		return
	}
	var res workflows.DecisionResponse
	err = s.engine.Update(r.Context(), c.WorkflowID, workflows.UpdateDecision, updateKey(r),
		workflows.DecisionRequest{Actor: actorOf(r), Decision: string(in.Decision), Reason: in.Reason, PlanDigest: in.PlanDigest, RequestID: requestID(r)}, &res)
	var refused *engine.Refusal
	if errors.As(err, &refused) {
		ev := event(r, "campaign.decision_refused")
		ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", c.ID, c.ID
		ev.Details = map[string]any{"rule": refused.Rule, "reason": refused.Message, "decision": in.Decision, "plan_digest": in.PlanDigest}
		if _, aerr := s.Store.Append(r.Context(), ev); aerr != nil {
			s.Logger.Error("audit append failed", "err", aerr)
		}
		writeProblem(w, r, problem{Status: refused.Status, Title: "Decision refused", Detail: refused.Message, Rule: refused.Rule})
		return
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("decision on campaign %s: %w", c.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// campaignOperations are the routes of campaigns.go.
func (s *server) campaignOperations() []operation {
	// The campaign's answer and its pages read each plan once per digest, and the requests for
	// one campaign that wait together share one read of its answer.
	reads := newCampaignReads()
	return append([]operation{
		{Method: "POST", Path: "/api/v1/campaigns", ID: "createCampaign", Tag: "Campaigns", Allow: engineers,
			Summary: "Plan a campaign for a qualified patch and start it",
			Description: "The plan is computed from the inventory as it is now: the production assets named in asset_ids, and a test-bench run for each from-version they run. " +
				"It is refused (422) when a target is not applicable or unreachable, or the error threshold exceeds what a safety zone allows, " +
				"and (409) when a target is already in a campaign that has not ended, or the patch is held for a release a target runs (rule qualification_hold, with the hold's reason; GET /api/v1/qualifications).",
			Body:    campaignRequest{},
			Answers: []answer{created(campaignView{})}, Handle: s.createCampaign},
		{Method: "GET", Path: "/api/v1/campaigns", ID: "listCampaigns", Tag: "Campaigns", Allow: staff,
			Summary:     "List campaigns, newest first",
			Description: "An unknown patch_id is refused (422).",
			Query: paged(
				qEnum("status", "Only campaigns in this status", stateNames(domain.CampaignStatusInfo())...),
				qString("patch_id", "Only campaigns of this patch")),
			Answers: []answer{ok(page[campaignSummary]{})}, Handle: s.listCampaigns},
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}", ID: "getCampaign", Tag: "Campaigns", Allow: staff,
			Summary: "Show a campaign with its plan, targets, approvals and review",
			Description: "With its stage, the approvals, the operators' actions and the next window; " +
				"review is the plan in words for approvers: the patch, its CVEs, the targets with their from-version and compatibility, the bench runs and what they cover, " +
				"and the waves with their thresholds and windows in the zone's time zone. " +
				"A campaign of any size answers in about the same bytes: asset_counts counts its assets by state and wave (drifted, not_started and aborted included), " +
				"and each long list holds its first 100 entries with the way to read the rest: assets and assets_next (GET /api/v1/campaigns/{campaignID}/assets), " +
				"review.targets and review.targets_next (GET /api/v1/campaigns/{campaignID}/review/targets), and the plan, shortened when plan_counts.shortened is true, " +
				"whole at GET /api/v1/campaigns/{campaignID}/plan: approvers read there everything they approve.",
			Query:   []param{qBool("live", "Add live, the running workflow's own view (1 or true)")},
			Answers: []answer{ok(campaignView{})}, Handle: s.getCampaign(reads)},
		{Method: "POST", Path: "/api/v1/campaigns/{campaignID}/decisions", ID: "decideCampaign", Headers: []param{retryHeader}, Tag: "Campaigns", Allow: deciders,
			Summary: "Approve or reject the campaign's plan",
			Description: "Decisions are taken while the campaign awaits approval; the approval policy decides, and a refusal names its rule (the problem's rule). " +
				"Refused with 409: a campaign that does not await approval (state), a caller whose role cannot approve (role), the campaign's creator (creator), " +
				"an approver who already approved this plan (distinct), an approval while the patch is held for a release a target runs (qualification_hold, with the hold's reason). Refused with 422: a plan_digest that is not the current plan's (plan_digest), " +
				"a rejection without a reason (reason). Every refusal is audited.",
			Body:    decisionRequest{},
			Answers: []answer{ok(workflows.DecisionResponse{})}, Handle: s.decideCampaign},
	}, s.campaignAssetOperations(reads)...)
}

// campaignBodyLimit bounds a campaign request: the JSON limit, and room for asset_ids and
// accept_not_stated as long as the campaign size allows, with ids of up to 128 characters.
func campaignBodyLimit(maxAssets int) int64 {
	return max(maxJSONBody, int64(maxAssets)*2*(128+4)+64<<10)
}
