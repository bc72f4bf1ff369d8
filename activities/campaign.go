package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// CampaignPlan is everything the campaign workflow needs to run, loaded once.
type CampaignPlan struct {
	CampaignID     string        `json:"campaign_id"`
	PatchID        string        `json:"patch_id"`
	CreatedBy      string        `json:"created_by"`
	PlanDigest     string        `json:"plan_digest"`
	Policy         domain.Policy `json:"policy"`
	ToVersion      string        `json:"to_version"`
	ArtifactSHA256 string        `json:"artifact_sha256"`
	Install        string        `json:"install,omitempty"`
	Targets        []Target      `json:"targets"`
	// ErrorThreshold is how many failed assets a wave tolerates (waves in safety-critical zones: none).
	ErrorThreshold int `json:"error_threshold,omitempty"`
	// Waves are the plan's production waves in order with their thresholds; empty for plans
	// made before plans carried them (the workflow then groups the targets itself).
	Waves []domain.PlanWave `json:"waves,omitempty"`
	// Waivers are the plan's backup waivers.
	Waivers []domain.PlanWaiver `json:"waivers,omitempty"`
	// TransferSite is the air-gapped site whose own instance runs the plan (plan.TransferSite);
	// on that site's instance, where the campaign was imported, it is empty.
	TransferSite string `json:"transfer_site,omitempty"`
	// Imported says the campaign came in a plan bundle from the central instance; its
	// approvals there (ImportedApprovals, of this plan) count here.
	Imported          bool              `json:"imported,omitempty"`
	ImportedApprovals []domain.Approval `json:"imported_approvals,omitempty"`
}

// Target is one asset of the plan with what scheduling needs to know about it.
type Target struct {
	AssetID         string        `json:"asset_id"`
	Name            string        `json:"name"`
	ZoneID          string        `json:"zone_id"`
	SLT             int           `json:"sl_t"`
	Criticality     int           `json:"criticality"`
	SafetyCritical  bool          `json:"safety_critical"`
	TestBench       bool          `json:"test_bench"`
	RedundancyGroup string        `json:"redundancy_group,omitempty"`
	Window          domain.Window `json:"window"`
	Expected        time.Duration `json:"expected"`
	// FromVersion is the version the plan says the asset runs (empty on older plans).
	FromVersion string `json:"from_version,omitempty"`
	// Bench is the bench run of a test-bench target (nil on older plans).
	Bench *domain.BenchRun `json:"bench,omitempty"`
}

// LoadCampaign reads a campaign's approved-to-be plan.
func (a *Activities) LoadCampaign(ctx context.Context, campaignID string) (CampaignPlan, error) {
	c, err := a.Store.Campaign(ctx, campaignID)
	if err != nil {
		return CampaignPlan{}, err
	}
	plan, err := storedPlan(c)
	if err != nil {
		return CampaignPlan{}, err
	}
	out, err := a.planHeader(ctx, c, plan)
	if err != nil {
		return CampaignPlan{}, err
	}
	complete := plan.Complete()
	for _, t := range plan.Targets {
		as, err := a.Store.Asset(ctx, t.AssetID)
		if err != nil {
			return CampaignPlan{}, err
		}
		expected, err := a.expected(as)
		if err != nil {
			return CampaignPlan{}, err
		}
		tg := Target{AssetID: as.ID, Name: as.Name, ZoneID: t.ZoneID, SLT: t.SLT,
			Criticality: as.Criticality, SafetyCritical: t.SafetyCritical, TestBench: t.TestBench,
			RedundancyGroup: as.RedundancyGroup, Window: t.Window, Expected: expected}
		if complete {
			// What was approved is what runs: ordering inputs come from the plan, not the
			// inventory as it may have changed since.
			tg.Criticality, tg.RedundancyGroup, tg.FromVersion = t.Criticality, t.RedundancyGroup, t.FromVersion
			if r, ok := plan.BenchRunFor(t.AssetID); ok && t.TestBench {
				tg.Bench = &r
			}
		}
		out.Targets = append(out.Targets, tg)
	}
	return out, nil
}

// storedPlan is campaign c's stored plan, checked against its digest.
func storedPlan(c store.Campaign) (domain.Plan, error) {
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
		return plan, fmt.Errorf("campaign %s plan: %w", c.ID, err)
	}
	if plan.Digest() != c.PlanDigest {
		return plan, fmt.Errorf("campaign %s: stored plan does not hash to its digest %s", c.ID, c.PlanDigest)
	}
	return plan, nil
}

// planHeader is everything of campaign c's plan but its targets.
func (a *Activities) planHeader(ctx context.Context, c store.Campaign, plan domain.Plan) (CampaignPlan, error) {
	p, err := a.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return CampaignPlan{}, err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return CampaignPlan{}, err
	}
	out := CampaignPlan{CampaignID: c.ID, PatchID: c.PatchID, CreatedBy: c.CreatedBy, PlanDigest: c.PlanDigest,
		Policy: domain.PolicyFor(plan, a.ApprovalTTL), ToVersion: m.FixedVersion, ArtifactSHA256: m.Artifacts[0].SHA256, Install: m.Install,
		ErrorThreshold: plan.ErrorThreshold, Waves: plan.Waves, Waivers: plan.Waivers}
	if c.ImportedFrom != "" {
		out.Imported = true
		aps, err := a.Store.Approvals(ctx, c.ID)
		if err != nil {
			return CampaignPlan{}, err
		}
		for _, ap := range aps {
			if ap.Decision == "approved" && ap.PlanDigest == c.PlanDigest {
				out.ImportedApprovals = append(out.ImportedApprovals, domain.Approval{Actor: ap.Actor, Role: domain.Role(ap.Role), PlanDigest: ap.PlanDigest, At: ap.At})
			}
		}
	} else {
		out.TransferSite = plan.TransferSite
	}
	return out, nil
}

// SiteResults is what an air-gapped site last reported of a campaign in a results bundle.
type SiteResults struct {
	// Returned is false until a results bundle of the campaign was imported.
	Returned bool   `json:"returned"`
	Sequence uint64 `json:"sequence,omitempty"`
	// Status and Detail are the campaign's status at the site when it wrote the results.
	Status domain.CampaignStatus `json:"status,omitempty"`
	Detail string                `json:"detail,omitempty"`
	// Assets are the targets' states as imported.
	Assets map[string]domain.AssetState `json:"assets,omitempty"`
}

// ReadSiteResults reads what the campaign's air-gapped site last reported.
func (a *Activities) ReadSiteResults(ctx context.Context, campaignID string) (SiteResults, error) {
	ts, err := a.Store.Transfers(ctx, store.TransferFilter{CampaignID: campaignID, Kind: "results", Direction: store.TransferIn, Limit: 1})
	if err != nil || len(ts) == 0 {
		return SiteResults{}, err
	}
	out := SiteResults{Returned: true, Sequence: ts[0].Sequence, Status: domain.CampaignStatus(ts[0].Status), Detail: ts[0].Detail, Assets: map[string]domain.AssetState{}}
	cas, err := a.Store.CampaignAssets(ctx, campaignID)
	if err != nil {
		return SiteResults{}, err
	}
	for _, ca := range cas {
		out.Assets[ca.AssetID] = domain.AssetState(ca.State)
	}
	return out, nil
}

// StatusInput moves a campaign to a status.
type StatusInput struct {
	CampaignID string                `json:"campaign_id"`
	Status     domain.CampaignStatus `json:"status"`
	Detail     string                `json:"detail,omitempty"`
	WorkflowID string                `json:"workflow_id"`
	Details    map[string]any        `json:"details,omitempty"`
}

// SetCampaignStatus records a campaign transition.
func (a *Activities) SetCampaignStatus(ctx context.Context, in StatusInput) error {
	c, err := a.Store.Campaign(ctx, in.CampaignID)
	if err != nil {
		return err
	}
	if c.Status == string(in.Status) && c.Detail == in.Detail {
		return nil // a retry after the change was written
	}
	ev := system("campaign." + string(in.Status))
	ev.WorkflowID = in.WorkflowID
	details := map[string]any{"from": c.Status, "to": in.Status, "detail": in.Detail}
	for k, v := range in.Details {
		details[k] = v
	}
	ev.Details = details
	ev.PatchID = c.PatchID
	return a.Store.SetCampaignStatus(ctx, in.CampaignID, in.Status, in.Detail, ev)
}

// WindowInput records the occurrence a campaign waits for.
type WindowInput struct {
	CampaignID string             `json:"campaign_id"`
	Occurrence *domain.Occurrence `json:"occurrence,omitempty"`
}

// SetNextWindow records the occurrence a campaign waits for (nil when none).
func (a *Activities) SetNextWindow(ctx context.Context, in WindowInput) error {
	return a.Store.SetNextWindow(ctx, in.CampaignID, in.Occurrence)
}

// ApprovalInput is one decision on a plan, already accepted by the workflow's validator.
type ApprovalInput struct {
	ID         string    `json:"id"`
	CampaignID string    `json:"campaign_id"`
	Actor      string    `json:"actor"`
	Role       string    `json:"role"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason,omitempty"`
	PlanDigest string    `json:"plan_digest"`
	At         time.Time `json:"at"`
	RequestID  string    `json:"request_id,omitempty"`
	WorkflowID string    `json:"workflow_id"`
}

// RecordApproval writes an approval or rejection with its audit event, once per ID.
func (a *Activities) RecordApproval(ctx context.Context, in ApprovalInput) error {
	rec := store.ApprovalRecord{ID: in.ID, CampaignID: in.CampaignID, Actor: in.Actor, Role: in.Role,
		Decision: in.Decision, Reason: in.Reason, PlanDigest: in.PlanDigest, At: in.At}
	ev := store.Event{Actor: in.Actor, Role: in.Role, Action: "campaign." + in.Decision, RequestID: in.RequestID, WorkflowID: in.WorkflowID,
		Details: map[string]any{"plan_digest": in.PlanDigest, "reason": in.Reason}}
	return a.Store.AddApproval(ctx, &rec, ev)
}

// OccurrenceInput asks for the occurrence of a window that is open at At or opens next.
type OccurrenceInput struct {
	Window domain.Window `json:"window"`
	At     time.Time     `json:"at"`
}

// OccurrenceResult is that occurrence; Found is false when the window does not open in the
// coming year.
type OccurrenceResult struct {
	Occurrence domain.Occurrence `json:"occurrence"`
	Found      bool              `json:"found"`
}

// WindowOccurrence computes a window's current or next occurrence (overlapping occurrences
// joined into the span the engine uses). It runs as a local activity so the workflow's
// history records the answer: a later time-zone database or cron library cannot change a
// decision a running campaign has already taken.
func (a *Activities) WindowOccurrence(_ context.Context, in OccurrenceInput) (OccurrenceResult, error) {
	occ, ok := in.Window.Current(in.At)
	return OccurrenceResult{Occurrence: occ, Found: ok}, nil
}
