package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// Decisions on advisories (internal/domain, decision.go). A decision covers a group of the
// assets an advisory hits; a newer decision for an asset and advisory supersedes the older one
// for that asset once it is in force (a risk acceptance when it is approved), and a decision
// superseded for all its assets is superseded. A mitigation files the NERC CIP-007-6 R2
// mitigation plan of the advisory (compliance.go) in the same transaction, so its due date is
// the compliance module's. An approved acceptance counts up to and including its expiry day
// (UTC), and is expired from the next day: its state is computed when it is read. The
// compliance report counts the assets of a not-affected statement in force as not applicable.

// Decision is a decision on an advisory for a group of its affected assets.
type Decision struct {
	ID         string `json:"id"`
	AdvisoryID string `json:"advisory_id"`
	TrackingID string `json:"tracking_id" doc:"The advisory's tracking id (ICSA-21-350-06)"`
	Kind       string `json:"kind" enum:"decision_kind"`
	State      string `json:"state" enum:"decision_state"`
	Selector   string `json:"-"`
	// Group says how the assets were chosen; AssetIDs are the assets resolved when deciding.
	Group      DecisionGroup `json:"group" gorm:"-"`
	AssetCount int           `json:"asset_count"`
	AssetIDs   []string      `json:"asset_ids" gorm:"-"`
	// Patch: the qualified patch and the campaign planned with it.
	PatchID    string `json:"patch_id,omitempty"`
	CampaignID string `json:"campaign_id,omitempty"`
	// Mitigate: the compensating control, on a NERC mitigation plan.
	MitigationPlanID string `json:"mitigation_plan_id,omitempty"`
	ControlKind      string `json:"control_kind,omitempty" enum:"control_kind"`
	Description      string `json:"description,omitempty"`
	Owner            string `json:"owner,omitempty"`
	Evidence         string `json:"evidence,omitempty"`
	ReviewOn         string `json:"review_date,omitempty" doc:"The day the compensating control is reviewed (YYYY-MM-DD); the mitigation plan is due then"`
	// Accept: the risk acceptance.
	Justification string `json:"justification,omitempty"`
	Approver      string `json:"approver,omitempty" doc:"The approver the acceptance asks to approve it"`
	ExpiresOn     string `json:"expires_on,omitempty" doc:"The last UTC day the acceptance counts (YYYY-MM-DD)"`
	// Not affected: the CSAF VEX statement.
	VEXJustification string `json:"vex_justification,omitempty" enum:"vex_justification"`
	ImpactStatement  string `json:"impact_statement,omitempty"`

	RequestedBy     string     `json:"requested_by"`
	RequestedByUser string     `json:"-"`
	RequestedAt     time.Time  `json:"requested_at"`
	ApprovedBy      string     `json:"approved_by,omitempty"`
	ApprovedAt      *time.Time `json:"approved_at,omitempty"`
	RejectedBy      string     `json:"rejected_by,omitempty" doc:"The approver who refused the risk acceptance"`
	RejectedAt      *time.Time `json:"rejected_at,omitempty"`
	RejectReason    string     `json:"reject_reason,omitempty" doc:"Why the approver refused it"`
	SupersededBy    string     `json:"superseded_by,omitempty" doc:"The decision that replaced this one for all its assets"`
	SupersededAt    *time.Time `json:"superseded_at,omitempty"`
}

// TableName maps Decision to its table.
func (Decision) TableName() string { return "advisory_decisions" }

// DecisionGroup says how a decision's assets were chosen: all the advisory's affected assets,
// named ones, or those of a zone and/or product.
type DecisionGroup struct {
	By        string `json:"by" doc:"all: every affected asset; asset_ids: the named ones; filter: the affected assets of zone_id and/or product_id"`
	ZoneID    string `json:"zone_id,omitempty"`
	ProductID string `json:"product_id,omitempty"`
}

// How a decision's group was chosen.
const (
	GroupAll      = "all"
	GroupAssetIDs = "asset_ids"
	GroupFilter   = "filter"
)

// decisionAsset is one asset of a decision's group.
type decisionAsset struct {
	DecisionID   string
	AdvisoryID   string
	AssetID      string
	SupersededBy string
}

func (decisionAsset) TableName() string { return "advisory_decision_assets" }

// effective sets the state a decision has today: an approved acceptance past its expiry day
// is expired.
func (d *Decision) effective(today string) {
	if d.Kind == string(domain.DecisionAccept) && d.State == string(domain.DecisionActive) && d.ExpiresOn != "" && today > d.ExpiresOn {
		d.State = string(domain.DecisionExpired)
	}
	_ = json.Unmarshal([]byte(d.Selector), &d.Group)
	if d.AssetIDs == nil {
		d.AssetIDs = []string{}
	}
}

// Fields are the decision's kind-specific fields, as the domain checks them.
func (d *Decision) Fields() domain.DecisionFields {
	return domain.DecisionFields{ControlKind: domain.ControlKind(d.ControlKind), Description: d.Description, Owner: d.Owner, Evidence: d.Evidence,
		ReviewOn: d.ReviewOn, Justification: d.Justification, Approver: d.Approver, ExpiresOn: d.ExpiresOn,
		VEXJustification: domain.VEXJustification(d.VEXJustification), ImpactStatement: d.ImpactStatement}
}

// CreateDecision records d (with d.ID when the caller named it beforehand) for the assets of its group (d.AssetIDs, resolved by the caller
// against the advisory's affected assets), requested by ev's actor (user id requester, "" for
// a token of no user), with its audit event "decision.recorded" — the campaign's too for a
// patch decision, so the campaign's evidence carries it. A mitigation records the advisory's
// evaluation (decision mitigate) when there is none and files its mitigation plan, due on the
// review date. A risk acceptance is pending until approved; every other decision is in force
// at once and supersedes the older decisions of its assets.
func (s *Store) CreateDecision(ctx context.Context, d *Decision, requester string, ev Event) error {
	today := DayOf(s.Now())
	v := &domain.ValidationError{What: "decision"}
	domain.CheckDecision(v, domain.DecisionKind(d.Kind), d.Fields(), today)
	ids := slices.Clone(d.AssetIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case len(ids) == 0:
		v.Add("asset_ids", "the decision covers no asset: name at least one asset the advisory hits")
	case len(ids) > domain.MaxDecisionAssets:
		v.Add("asset_ids", "names %d assets; one decision covers at most %d", len(ids), domain.MaxDecisionAssets)
	}
	if d.Kind == string(domain.DecisionPatch) && d.CampaignID == "" {
		v.Add("campaign_id", "a patch decision needs the campaign it planned")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if d.Group.By == "" {
		d.Group.By = GroupAssetIDs
	}
	sel, _ := json.Marshal(d.Group)
	now := s.Now()
	if d.ID == "" {
		d.ID = NewID("dec")
	}
	d.Selector, d.AssetIDs, d.AssetCount = string(sel), ids, len(ids)
	d.RequestedBy, d.RequestedByUser, d.RequestedAt = ev.Actor, requester, now
	d.State = string(domain.DecisionActive)
	if d.Kind == string(domain.DecisionAccept) {
		d.State = string(domain.DecisionPending)
	}
	return s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		var a Advisory
		if err := tx.Omit("document", "summary").Take(&a, "id = ?", d.AdvisoryID).Error; err != nil {
			return ev, notFound(err, "advisory "+d.AdvisoryID)
		}
		d.TrackingID = a.TrackingID
		details := map[string]any{"advisory_id": a.ID, "tracking_id": a.TrackingID, "kind": d.Kind, "state": d.State,
			"group": d.Group, "asset_ids": ids}
		if d.Kind == string(domain.DecisionMitigate) {
			plan, evaluated, err := s.mitigationFor(tx, d, a, ev.Actor, now)
			if err != nil {
				return ev, err
			}
			d.MitigationPlanID = plan
			details["mitigation_plan_id"], details["evaluation_recorded"] = plan, evaluated
		}
		if err := tx.Create(d).Error; err != nil {
			return ev, err
		}
		rows := make([]decisionAsset, len(ids))
		for i, id := range ids {
			rows[i] = decisionAsset{DecisionID: d.ID, AdvisoryID: d.AdvisoryID, AssetID: id}
		}
		if err := tx.CreateInBatches(rows, 500).Error; err != nil {
			return ev, err
		}
		if d.State == string(domain.DecisionActive) {
			superseded, err := s.supersede(tx, *d, now)
			if err != nil {
				return ev, err
			}
			details["superseded"] = superseded
		}
		for k, val := range decisionDetails(d) {
			details[k] = val
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "decision.recorded", "advisory_decision", d.ID
		ev.CampaignID, ev.PatchID = d.CampaignID, d.PatchID
		ev.Details = details
		return ev, nil
	})
}

// decisionDetails are the kind's fields of a decision, for its audit event.
func decisionDetails(d *Decision) map[string]any {
	switch domain.DecisionKind(d.Kind) {
	case domain.DecisionPatch:
		return map[string]any{"patch_id": d.PatchID, "campaign_id": d.CampaignID}
	case domain.DecisionMitigate:
		return map[string]any{"control_kind": d.ControlKind, "description": d.Description, "owner": d.Owner, "evidence": d.Evidence, "review_date": d.ReviewOn}
	case domain.DecisionAccept:
		return map[string]any{"justification": d.Justification, "approver": d.Approver, "expires_on": d.ExpiresOn}
	case domain.DecisionNotAffected:
		return map[string]any{"vex_justification": d.VEXJustification, "impact_statement": d.ImpactStatement}
	}
	return nil
}

// mitigationFor files the NERC mitigation plan of a mitigate decision: the advisory's
// evaluation is recorded as mitigate when there is none; an advisory evaluated as not
// applicable is refused, as CreateMitigationPlan refuses it.
func (s *Store) mitigationFor(tx *gorm.DB, d *Decision, a Advisory, actor string, now time.Time) (planID string, evaluated bool, err error) {
	var e Evaluation
	err = tx.Take(&e, "subject_type = ? AND subject_id = ?", SubjectAdvisory, a.ID).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		e = Evaluation{SubjectType: SubjectAdvisory, SubjectID: a.ID, Decision: DecisionMitigate,
			Reason: "compensating control (" + d.ControlKind + "): " + d.Description, EvaluatedBy: actor, EvaluatedAt: now, EvaluatedOn: DayOf(now), UpdatedAt: now}
		if err := tx.Create(&e).Error; err != nil {
			return "", false, err
		}
		evaluated = true
	case err != nil:
		return "", false, err
	case e.Decision == DecisionNotApplicable:
		return "", false, fmt.Errorf("advisory %s was evaluated as not applicable for NERC CIP-007-6 R2; change that evaluation before mitigating it: %w", a.TrackingID, ErrConflict)
	}
	control := d.ControlKind + ": " + d.Description + " (evidence: " + d.Evidence + ")"
	controls, _ := json.Marshal([]string{control})
	p := MitigationPlan{ID: NewID("mit"), SubjectType: SubjectAdvisory, SubjectID: a.ID, Controls: string(controls), Owner: d.Owner,
		DueOn: d.ReviewOn, OriginalDueOn: d.ReviewOn, Status: PlanOpen, CreatedBy: actor, CreatedAt: now}
	if err := tx.Create(&p).Error; err != nil {
		return "", false, err
	}
	return p.ID, evaluated, nil
}

// supersede marks the current rows of d's assets that belong to older decisions of the same
// advisory as replaced by d, and the decisions left with no current asset as superseded. It
// answers the ids of the decisions it superseded wholly.
func (s *Store) supersede(tx *gorm.DB, d Decision, now time.Time) ([]string, error) {
	older := tx.Model(&Decision{}).Select("id").Where("advisory_id = ? AND id <> ? AND (requested_at < ? OR (requested_at = ? AND id < ?))",
		d.AdvisoryID, d.ID, d.RequestedAt, d.RequestedAt, d.ID)
	var touched []string
	for chunk := range slices.Chunk(d.AssetIDs, 500) {
		var ids []string
		if err := tx.Model(&decisionAsset{}).Distinct("decision_id").
			Where("advisory_id = ? AND asset_id IN ? AND superseded_by = '' AND decision_id IN (?)", d.AdvisoryID, chunk, older).
			Pluck("decision_id", &ids).Error; err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			continue
		}
		if err := tx.Model(&decisionAsset{}).Where("advisory_id = ? AND asset_id IN ? AND superseded_by = '' AND decision_id IN ?", d.AdvisoryID, chunk, ids).
			Update("superseded_by", d.ID).Error; err != nil {
			return nil, err
		}
		touched = append(touched, ids...)
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	out := []string{}
	for _, id := range touched {
		var left int64
		if err := tx.Model(&decisionAsset{}).Where("decision_id = ? AND superseded_by = ''", id).Count(&left).Error; err != nil {
			return nil, err
		}
		if left > 0 {
			continue
		}
		if err := tx.Model(&Decision{}).Where("id = ?", id).
			Updates(map[string]any{"state": string(domain.DecisionSuperseded), "superseded_by": d.ID, "superseded_at": now}).Error; err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// ApproveDecision approves a pending risk acceptance: by an approver other than its requester
// (persons compared by user id, else by name: ErrForbidden with the reason), the approver it
// names, before it expires. It comes into force and supersedes the older decisions of its
// assets ("decision.approved").
func (s *Store) ApproveDecision(ctx context.Context, id string, approver domain.Actor, ev Event) (Decision, error) {
	var out Decision
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		if err := s.forUpdate(tx).Take(&out, "id = ?", id).Error; err != nil {
			return ev, notFound(err, "decision "+id)
		}
		if out.Kind != string(domain.DecisionAccept) {
			return ev, fmt.Errorf("decision %s is a %s decision; only a risk acceptance is approved: %w", id, out.Kind, ErrConflict)
		}
		requester := domain.Actor{Name: out.RequestedBy, UserID: out.RequestedByUser, Role: domain.RoleEngineer}
		if err := domain.CheckAcceptanceApprover(requester, approver, out.Approver); err != nil {
			return ev, fmt.Errorf("%s: %w", err.Error(), ErrForbidden)
		}
		if !domain.DecisionState(out.State).CanMoveTo(domain.DecisionActive) {
			msg := "was already approved by " + out.ApprovedBy
			if out.State == string(domain.DecisionSuperseded) {
				msg = "was superseded by decision " + out.SupersededBy + " before it was approved"
			}
			return ev, fmt.Errorf("risk acceptance %s %s: %w", id, msg, ErrConflict)
		}
		now := s.Now()
		if today := DayOf(now); today > out.ExpiresOn {
			return ev, fmt.Errorf("risk acceptance %s expired on %s before it was approved; decide again: %w", id, out.ExpiresOn, ErrConflict)
		}
		out.State, out.ApprovedBy, out.ApprovedAt = string(domain.DecisionActive), approver.Name, &now
		if err := tx.Model(&Decision{}).Where("id = ?", id).
			Updates(map[string]any{"state": out.State, "approved_by": approver.Name, "approved_at": now}).Error; err != nil {
			return ev, err
		}
		var assets []string
		if err := tx.Model(&decisionAsset{}).Where("decision_id = ?", id).Order("asset_id").Pluck("asset_id", &assets).Error; err != nil {
			return ev, err
		}
		out.AssetIDs = assets
		superseded, err := s.supersede(tx, out, now)
		if err != nil {
			return ev, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "decision.approved", "advisory_decision", id
		ev.Details = map[string]any{"advisory_id": out.AdvisoryID, "tracking_id": out.TrackingID, "requested_by": out.RequestedBy,
			"expires_on": out.ExpiresOn, "asset_ids": assets, "superseded": superseded}
		return ev, nil
	})
	if err != nil {
		return out, err
	}
	return s.Decision(ctx, id)
}

// RejectDecision refuses a pending risk acceptance, with the reason: by the approver it names,
// never its requester (ErrForbidden with the reason, as ApproveDecision). It never counted and
// supersedes nothing ("decision.rejected").
func (s *Store) RejectDecision(ctx context.Context, id string, approver domain.Actor, reason string, ev Event) (Decision, error) {
	var out Decision
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		if err := s.forUpdate(tx).Take(&out, "id = ?", id).Error; err != nil {
			return ev, notFound(err, "decision "+id)
		}
		if out.Kind != string(domain.DecisionAccept) {
			return ev, fmt.Errorf("decision %s is a %s decision; only a risk acceptance is rejected: %w", id, out.Kind, ErrConflict)
		}
		requester := domain.Actor{Name: out.RequestedBy, UserID: out.RequestedByUser, Role: domain.RoleEngineer}
		if err := domain.CheckAcceptanceApprover(requester, approver, out.Approver); err != nil {
			return ev, fmt.Errorf("%s: %w", err.Error(), ErrForbidden)
		}
		if !domain.DecisionState(out.State).CanMoveTo(domain.DecisionRejected) {
			return ev, fmt.Errorf("risk acceptance %s is %s, not pending: only a pending one is rejected: %w", id, out.State, ErrConflict)
		}
		now := s.Now()
		out.State, out.RejectedBy, out.RejectedAt, out.RejectReason = string(domain.DecisionRejected), approver.Name, &now, reason
		if err := tx.Model(&Decision{}).Where("id = ?", id).
			Updates(map[string]any{"state": out.State, "rejected_by": approver.Name, "rejected_at": now, "reject_reason": reason}).Error; err != nil {
			return ev, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "decision.rejected", "advisory_decision", id
		ev.Details = map[string]any{"advisory_id": out.AdvisoryID, "tracking_id": out.TrackingID, "requested_by": out.RequestedBy, "reason": reason}
		return ev, nil
	})
	if err != nil {
		return out, err
	}
	return s.Decision(ctx, id)
}

// Decision loads one decision with its assets.
func (s *Store) Decision(ctx context.Context, id string) (Decision, error) {
	var d Decision
	if err := s.db.WithContext(ctx).Take(&d, "id = ?", id).Error; err != nil {
		return d, notFound(err, "decision "+id)
	}
	if err := s.db.WithContext(ctx).Model(&decisionAsset{}).Where("decision_id = ?", id).Order("asset_id").Pluck("asset_id", &d.AssetIDs).Error; err != nil {
		return d, err
	}
	d.effective(DayOf(s.Now()))
	return d, nil
}

// DecisionFilter selects a page of decisions. Every field left empty selects all.
type DecisionFilter struct {
	AdvisoryID string
	CampaignID string
	// AssetID selects the decisions whose group holds the asset, superseded ones included: the
	// asset's history.
	AssetID string
	Kind    string
	State   string
	// AfterAt and AfterID are the request time and id of the last decision of the previous
	// page; zero for the first page.
	AfterAt time.Time
	AfterID string
	Limit   int
}

// DecisionsPage reads the decisions f selects, newest first (ties by id, descending), without
// their asset lists: one keyset page.
func (s *Store) DecisionsPage(ctx context.Context, f DecisionFilter) ([]Decision, error) {
	today := DayOf(s.Now())
	q := s.db.WithContext(ctx).Model(&Decision{})
	if f.AdvisoryID != "" {
		q = q.Where("advisory_id = ?", f.AdvisoryID)
	}
	if f.CampaignID != "" {
		q = q.Where("campaign_id = ?", f.CampaignID)
	}
	if f.AssetID != "" {
		q = q.Where("id IN (?)", s.db.WithContext(ctx).Model(&decisionAsset{}).Select("decision_id").Where("asset_id = ?", f.AssetID))
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	accept := string(domain.DecisionAccept)
	switch domain.DecisionState(f.State) {
	case "":
	case domain.DecisionExpired:
		q = q.Where("kind = ? AND state = ? AND expires_on < ?", accept, string(domain.DecisionActive), today)
	case domain.DecisionActive:
		q = q.Where("state = ? AND NOT (kind = ? AND expires_on < ?)", string(domain.DecisionActive), accept, today)
	default:
		q = q.Where("state = ?", f.State)
	}
	q = newestFirst(q, "requested_at", f.AfterAt, f.AfterID, f.Limit)
	out := []Decision{}
	if err := q.Find(&out).Error; err != nil {
		return nil, err
	}
	for i := range out {
		out[i].effective(today)
	}
	return out, nil
}

// CurrentDecisions answers, per asset, the advisory's current decision for it: the newest one
// not superseded for the asset (a pending acceptance included, with its state; a rejected one
// left out).
func (s *Store) CurrentDecisions(ctx context.Context, advisoryID string) (map[string]Decision, error) {
	var rows []decisionAsset
	if err := s.db.WithContext(ctx).Where("advisory_id = ? AND superseded_by = ''", advisoryID).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return map[string]Decision{}, nil
	}
	var ds []Decision
	if err := s.db.WithContext(ctx).Where("advisory_id = ?", advisoryID).Order("requested_at, id").Find(&ds).Error; err != nil {
		return nil, err
	}
	today := DayOf(s.Now())
	rank := map[string]int{}
	for i := range ds {
		ds[i].effective(today)
		rank[ds[i].ID] = i
	}
	out := map[string]Decision{}
	for _, r := range rows {
		i, ok := rank[r.DecisionID]
		if !ok || ds[i].State == string(domain.DecisionRejected) { // a refused acceptance never was the asset's decision
			continue
		}
		if cur, seen := out[r.AssetID]; !seen || rank[cur.ID] < i {
			out[r.AssetID] = ds[i]
		}
	}
	return out, nil
}

// notAffected are the advisory/asset pairs ("adv_…/ast_…") whose current decision is a
// not-affected statement: the compliance report counts those assets as not applicable.
func (s *Store) notAffected(ctx context.Context) (map[string]bool, error) {
	var rows []decisionAsset
	err := s.db.WithContext(ctx).Table("advisory_decision_assets AS a").Select("a.advisory_id, a.asset_id").
		Joins("JOIN advisory_decisions AS d ON d.id = a.decision_id").
		Where("a.superseded_by = '' AND d.kind = ? AND d.state = ?", string(domain.DecisionNotAffected), string(domain.DecisionActive)).
		Find(&rows).Error
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		out[r.AdvisoryID+"/"+r.AssetID] = true
	}
	return out, err
}
