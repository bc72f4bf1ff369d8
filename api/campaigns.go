package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otpatch/otpatch/internal/adapters"
	"net/http"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

type campaignRequest struct {
	Name     string   `json:"name"`
	PatchID  string   `json:"patch_id"`
	AssetIDs []string `json:"asset_ids,omitempty"`
	// ErrorThreshold is how many failed assets a wave tolerates (default 0); part of the plan.
	// Waves in safety-critical zones tolerate none whatever it says.
	ErrorThreshold *int `json:"error_threshold,omitempty"`
}

// createCampaign plans a campaign for a qualified patch — the given production assets (default:
// every applicable one) plus the test-bench assets of the product — and starts its workflow.
func (s *server) createCampaign(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in campaignRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "campaign"}
	if strings.TrimSpace(in.Name) == "" || len(in.Name) > 200 {
		v.Add("name", "is required (at most 200 characters)")
	}
	if in.ErrorThreshold != nil && (*in.ErrorThreshold < 0 || *in.ErrorThreshold > domain.MaxErrorThreshold) {
		v.Add("error_threshold", "must be between 0 and %d, got %d", domain.MaxErrorThreshold, *in.ErrorThreshold)
	}
	if len(in.AssetIDs) > domain.MaxCampaignAssets {
		v.Add("asset_ids", "lists %d assets, more than the %d one campaign may have; split it into several campaigns", len(in.AssetIDs), domain.MaxCampaignAssets)
	}
	p, err := s.Store.Patch(ctx, in.PatchID)
	if err != nil {
		v.Add("patch_id", "no patch %q", in.PatchID)
	} else if p.Status != string(domain.PatchQualified) {
		v.Add("patch_id", "patch %s is %s; only a qualified patch can be deployed", p.ID, p.Status)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var applicable []string
	_ = json.Unmarshal([]byte(p.Applicable), &applicable)
	assets, err := s.Store.Assets(ctx, store.AssetFilter{IDs: applicable})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	zones, err := s.Store.Zones(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	zoneByID := map[string]store.Zone{}
	for _, z := range zones {
		zoneByID[z.ID] = z
	}
	wanted := map[string]bool{}
	for _, id := range in.AssetIDs {
		wanted[id] = true
	}
	plan := domain.Plan{PatchID: p.ID, ManifestSHA256: p.ManifestSHA256}
	if in.ErrorThreshold != nil {
		plan.ErrorThreshold = *in.ErrorThreshold
	}
	var targets []store.CampaignAsset
	found := map[string]bool{}
	for _, as := range assets {
		z := zoneByID[as.ZoneID]
		if !z.TestBench && len(wanted) > 0 && !wanted[as.ID] {
			continue
		}
		found[as.ID] = true
		plan.Targets = append(plan.Targets, domain.PlanTarget{AssetID: as.ID, ZoneID: z.ID, SLT: z.SLT, SafetyCritical: as.SafetyCritical, TestBench: z.TestBench, Window: z.Window})
		wave := 1
		if z.TestBench {
			wave = 0
		}
		targets = append(targets, store.CampaignAsset{AssetID: as.ID, TestBench: z.TestBench, Wave: wave, State: string(domain.AssetPending), FromVersion: as.InstalledVersion, ToVersion: m.FixedVersion})
	}
	var notApplicable []string
	for id := range wanted {
		if !found[id] {
			notApplicable = append(notApplicable, id)
		}
	}
	if len(notApplicable) > 0 {
		sort.Strings(notApplicable)
		s.fail(w, r, &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids",
			Message: "not affected by this patch (or unknown): " + strings.Join(notApplicable, ", ")}}})
		return
	}
	if len(plan.Targets) > domain.MaxCampaignAssets {
		s.fail(w, r, &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids",
			Message: fmt.Sprintf("the campaign would reach %d assets, more than the %d one campaign may have; list the assets of one part of the plant in asset_ids", len(plan.Targets), domain.MaxCampaignAssets)}}})
		return
	}
	var unreachable []string
	for _, as := range assets {
		if !found[as.ID] || !adapters.NeedsEndpoint(as.Adapter) {
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
		s.fail(w, r, &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids", Message: strings.Join(unreachable, "; ")}}})
		return
	}
	prod := 0
	for _, t := range plan.Targets {
		if !t.TestBench {
			prod++
		}
	}
	if prod == 0 {
		s.fail(w, r, &domain.ValidationError{What: "campaign", Fields: []domain.FieldError{{Field: "asset_ids", Message: "the campaign has no production asset to patch"}}})
		return
	}
	planJSON, _ := json.Marshal(plan)
	c := store.Campaign{ID: store.NewID("cmp"), Name: in.Name, PatchID: p.ID, Status: string(domain.CampaignDraft), CreatedBy: actorOf(r).Name,
		Plan: string(planJSON), PlanDigest: plan.Digest()}
	c.WorkflowID = workflows.CampaignWorkflowID(c.ID)
	ev := event(r, "campaign.created")
	ev.Details = map[string]any{"name": c.Name, "plan_digest": c.PlanDigest, "targets": len(targets)}
	if err := s.Store.CreateCampaign(ctx, &c, targets, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: c.WorkflowID, TaskQueue: workflows.TaskQueue},
		workflows.Campaign, workflows.CampaignInput{CampaignID: c.ID})
	if err != nil {
		s.internal(w, r, fmt.Errorf("start campaign workflow: %w", err))
		return
	}
	s.writeCampaign(w, r, c.ID, http.StatusCreated)
}

// campaignView is a campaign with its plan, targets and approvals.
type campaignView struct {
	store.Campaign
	Stage     string                 `json:"stage"`
	Plan      json.RawMessage        `json:"plan"`
	Assets    []campaignAssetView    `json:"assets"`
	Approvals []store.ApprovalRecord `json:"approvals"`
	// Operations are the engineers' pauses, resumes and aborts.
	Operations []store.OperatorAction    `json:"operations"`
	Live       *workflows.CampaignStatus `json:"live,omitempty"`
}

type campaignAssetView struct {
	store.CampaignAsset
	Name string `json:"name"`
}

func (s *server) listCampaigns(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Store.Campaigns(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *server) getCampaign(w http.ResponseWriter, r *http.Request) {
	s.writeCampaign(w, r, chi.URLParam(r, "campaignID"), http.StatusOK)
}

func (s *server) writeCampaign(w http.ResponseWriter, r *http.Request, id string, status int) {
	ctx := r.Context()
	c, err := s.Store.Campaign(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ca, err := s.Store.CampaignAssets(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	aps, err := s.Store.Approvals(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view := campaignView{Campaign: c, Stage: c.Status, Plan: json.RawMessage(c.Plan), Approvals: aps}
	if aps == nil {
		view.Approvals = []store.ApprovalRecord{}
	}
	if view.Operations, err = s.Store.OperatorActions(ctx, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if view.Operations == nil {
		view.Operations = []store.OperatorAction{}
	}
	names, err := s.Store.AssetNames(ctx, ca)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, x := range ca {
		view.Assets = append(view.Assets, campaignAssetView{CampaignAsset: x, Name: names[x.AssetID]})
	}
	if !domain.CampaignStatus(c.Status).Terminal() && r.URL.Query().Get("live") == "1" {
		if q, err := s.Temporal.QueryWorkflow(ctx, c.WorkflowID, "", workflows.QueryStatus); err == nil {
			var st workflows.CampaignStatus
			if q.Get(&st) == nil {
				view.Live = &st
			}
		}
	}
	writeJSON(w, status, view)
}

type decisionRequest struct {
	Decision   string `json:"decision"`
	Reason     string `json:"reason,omitempty"`
	PlanDigest string `json:"plan_digest"`
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
	handle, err := s.Temporal.UpdateWorkflow(r.Context(), client.UpdateWorkflowOptions{
		WorkflowID: c.WorkflowID, UpdateName: workflows.UpdateDecision, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.DecisionRequest{Actor: actorOf(r), Decision: in.Decision, Reason: in.Reason, PlanDigest: in.PlanDigest, RequestID: requestID(r)}},
	})
	var res workflows.DecisionResponse
	if err == nil {
		err = handle.Get(r.Context(), &res)
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && strings.HasPrefix(appErr.Type(), workflows.RefusalErrorPrefix) {
		rule := strings.TrimPrefix(appErr.Type(), workflows.RefusalErrorPrefix)
		status := http.StatusUnprocessableEntity
		if rule == "creator" || rule == "distinct" || rule == "state" || rule == "role" {
			status = http.StatusConflict
		}
		ev := event(r, "campaign.decision_refused")
		ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", c.ID, c.ID
		ev.Details = map[string]any{"rule": rule, "reason": appErr.Message(), "decision": in.Decision, "plan_digest": in.PlanDigest}
		if _, aerr := s.Store.Append(r.Context(), ev); aerr != nil {
			s.Logger.Error("audit append failed", "err", aerr)
		}
		writeProblem(w, r, problem{Status: status, Title: "Decision refused", Detail: appErr.Message(), Rule: rule})
		return
	}
	if err != nil {
		s.internal(w, r, fmt.Errorf("decision on campaign %s: %w", c.ID, err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}
