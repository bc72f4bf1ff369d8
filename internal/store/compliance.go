package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/otpatch/otpatch/internal/domain"
)

// NERC CIP-007-6 R2 patch compliance. Every patch and every advisory has a release date (the
// manifest's release_date; the UTC day of an advisory's initial_release_date) and must be
// evaluated within ComplianceDays of it; once evaluated, the decision (apply, mitigate or
// not applicable) must be acted on within ComplianceDays of the evaluation: installed on every
// applicable asset, or a dated mitigation plan filed. A mitigation plan is due on its own
// date, which an approver other than the requester may extend.
//
// Deadlines are counted in calendar days in UTC, and a due date is the last day allowed: the
// evaluation of a patch released on 2026-01-27 is due on 2026-03-03 and overdue from
// 2026-03-04 00:00 UTC. An evaluation counts on the UTC day it was recorded: a decision taken
// at 23:30 on 3 March in Chicago (05:30 UTC on 4 March) was made on 4 March.

// ComplianceDays is the NERC CIP-007-6 R2 period: for evaluation after release, and for
// action after evaluation.
const ComplianceDays = 35

// Compliance decisions.
const (
	DecisionApply         = "apply"
	DecisionMitigate      = "mitigate"
	DecisionNotApplicable = "not_applicable"
)

// What compliance is tracked for.
const (
	SubjectPatch    = "patch"
	SubjectAdvisory = "advisory"
)

// Action states of a compliance item.
const (
	ActionAwaitingEvaluation = "awaiting_evaluation"
	ActionNone               = "none"
	ActionOpen               = "open"
	ActionDone               = "done"
)

// Per-asset patch status.
const (
	AssetInstalled     = "installed"
	AssetPendingPatch  = "pending"
	AssetMitigated     = "mitigated"
	AssetNotApplicable = "not_applicable"
)

// Mitigation plan and extension states.
const (
	PlanOpen           = "open"
	PlanCompleted      = "completed"
	ExtensionRequested = "requested"
	ExtensionApproved  = "approved"
	ExtensionRejected  = "rejected"
)

// ErrForbidden means the actor may not do this (an extension's requester approving it).
var ErrForbidden = errors.New("not allowed")

// DayOf is the UTC calendar day of t, as deadlines count it.
func DayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// AddDays adds n calendar days to a YYYY-MM-DD date.
func AddDays(date string, n int) (string, error) {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return "", fmt.Errorf("date %q: %w", date, err)
	}
	return d.AddDate(0, 0, n).Format(time.DateOnly), nil
}

// daysAfter is how many calendar days day lies after due (negative: before).
func daysAfter(due, day string) int {
	a, err1 := time.Parse(time.DateOnly, due)
	b, err2 := time.Parse(time.DateOnly, day)
	if err1 != nil || err2 != nil {
		return 0
	}
	return int(b.Sub(a).Hours() / 24)
}

// Evaluation is the decision recorded for a patch or an advisory. EvaluatedAt and EvaluatedOn
// are the first decision's; a changed decision keeps them, so re-deciding never moves the
// action deadline.
type Evaluation struct {
	SubjectType string    `json:"subject_type" gorm:"primaryKey"`
	SubjectID   string    `json:"subject_id" gorm:"primaryKey"`
	Decision    string    `json:"decision"`
	Reason      string    `json:"reason"`
	EvaluatedBy string    `json:"evaluated_by"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	// EvaluatedOn is the UTC day of EvaluatedAt: the day the deadlines count from.
	EvaluatedOn string    `json:"evaluated_on"`
	ChangedBy   string    `json:"changed_by,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// TableName maps Evaluation to its table.
func (Evaluation) TableName() string { return "compliance_evaluations" }

// MitigationPlan is a dated plan of compensating controls for a patch or advisory that is not
// (yet) applied.
type MitigationPlan struct {
	ID                   string   `json:"id"`
	SubjectType          string   `json:"subject_type"`
	SubjectID            string   `json:"subject_id"`
	Controls             string   `json:"-"`
	CompensatingControls []string `json:"compensating_controls" gorm:"-"`
	Owner                string   `json:"owner"`
	// DueOn is the day the plan must be carried out by, moved by approved extensions.
	DueOn         string                `json:"due_date"`
	OriginalDueOn string                `json:"original_due_date"`
	Status        string                `json:"status"`
	CreatedBy     string                `json:"created_by"`
	CreatedAt     time.Time             `json:"created_at"`
	CompletedBy   string                `json:"completed_by,omitempty"`
	CompletedAt   *time.Time            `json:"completed_at,omitempty"`
	Extensions    []MitigationExtension `json:"extensions" gorm:"-"`
}

// MitigationExtension is a request to move a plan's due date and its decision.
type MitigationExtension struct {
	ID             string     `json:"id"`
	PlanID         string     `json:"plan_id"`
	Reason         string     `json:"reason"`
	PreviousDueOn  string     `json:"previous_due_date"`
	NewDueOn       string     `json:"new_due_date"`
	Status         string     `json:"status"`
	RequestedBy    string     `json:"requested_by"`
	RequestedAt    time.Time  `json:"requested_at"`
	DecidedBy      string     `json:"decided_by,omitempty"`
	DecisionReason string     `json:"decision_reason,omitempty"`
	DecidedAt      *time.Time `json:"decided_at,omitempty"`
}

// writeWith is Write for changes whose audit event depends on what the transaction finds:
// fn returns the event to append.
func (s *Store) writeWith(ctx context.Context, fn func(tx *gorm.DB) (Event, error)) error {
	_, err := s.commit(ctx, fn)
	if errors.Is(err, ErrUnchanged) {
		return nil
	}
	return err
}

func (s *Store) forUpdate(tx *gorm.DB) *gorm.DB {
	if s.dialect == "postgres" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// releaseDate reads the release date of a patch (its manifest's release_date) or an
// advisory (the UTC day of its initial release), with its reference for events.
func releaseDate(tx *gorm.DB, subjectType, subjectID string) (date, ref string, err error) {
	switch subjectType {
	case SubjectPatch:
		var p Patch
		if err := tx.Take(&p, "id = ?", subjectID).Error; err != nil {
			return "", "", notFound(err, "patch "+subjectID)
		}
		if p.Status == string(domain.PatchRejected) {
			return "", "", fmt.Errorf("patch %s was rejected in qualification; there is nothing to evaluate: %w", subjectID, ErrConflict)
		}
		return patchReleaseDate(p), p.PatchRef + " " + p.Version, nil
	case SubjectAdvisory:
		var a Advisory
		if err := tx.Omit("document", "summary").Take(&a, "id = ?", subjectID).Error; err != nil {
			return "", "", notFound(err, "advisory "+subjectID)
		}
		return DayOf(a.ReleasedAt), a.TrackingID, nil
	}
	return "", "", &domain.ValidationError{What: "subject", Fields: []domain.FieldError{{Field: "subject_type", Message: "must be patch or advisory"}}}
}

// patchReleaseDate is the manifest's release_date; a stored manifest without one (it is
// required at intake) falls back to the day the patch was submitted.
func patchReleaseDate(p Patch) string {
	if m, err := ManifestOf(p); err == nil {
		if _, err := time.Parse(time.DateOnly, m.ReleaseDate); err == nil {
			return m.ReleaseDate
		}
	}
	return DayOf(p.CreatedAt)
}

// Evaluate records the decision on a patch or advisory, evaluated now by ev's actor, with its
// audit event ("compliance.evaluated", or "compliance.evaluation_changed" when a decision was
// recorded before: the first evaluation's time is kept). The same decision and reason again
// changes nothing.
func (s *Store) Evaluate(ctx context.Context, subjectType, subjectID, decision, reason string, ev Event) (Evaluation, error) {
	v := &domain.ValidationError{What: "evaluation"}
	if !slices.Contains([]string{DecisionApply, DecisionMitigate, DecisionNotApplicable}, decision) {
		v.Add("decision", "must be apply, mitigate or not_applicable, got %q", decision)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		v.Add("reason", "is required: say why this decision was taken")
	}
	if err := v.Err(); err != nil {
		return Evaluation{}, err
	}
	var out Evaluation
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		release, ref, err := releaseDate(tx, subjectType, subjectID)
		if err != nil {
			return ev, err
		}
		now := s.Now()
		evalDue, _ := AddDays(release, ComplianceDays)
		ev.SubjectType, ev.SubjectID = subjectType, subjectID
		if subjectType == SubjectPatch {
			ev.PatchID = subjectID
		}
		var old Evaluation
		err = s.forUpdate(tx).Take(&old, "subject_type = ? AND subject_id = ?", subjectType, subjectID).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			out = Evaluation{SubjectType: subjectType, SubjectID: subjectID, Decision: decision, Reason: reason,
				EvaluatedBy: ev.Actor, EvaluatedAt: now, EvaluatedOn: DayOf(now), UpdatedAt: now}
			if err := tx.Create(&out).Error; err != nil {
				return ev, notFound(err, "evaluation of "+subjectType+" "+subjectID)
			}
			ev.Action = "compliance.evaluated"
		case err != nil:
			return ev, err
		default:
			if old.Decision == decision && old.Reason == reason {
				out = old
				return ev, ErrUnchanged
			}
			out = old
			out.Decision, out.Reason, out.ChangedBy, out.UpdatedAt = decision, reason, ev.Actor, now
			if err := tx.Model(&Evaluation{}).Where("subject_type = ? AND subject_id = ?", subjectType, subjectID).
				Updates(map[string]any{"decision": decision, "reason": reason, "changed_by": ev.Actor, "updated_at": now}).Error; err != nil {
				return ev, err
			}
			ev.Action = "compliance.evaluation_changed"
		}
		actionDue, _ := AddDays(out.EvaluatedOn, ComplianceDays)
		details := map[string]any{"ref": ref, "decision": decision, "reason": reason, "release_date": release,
			"evaluation_due": evalDue, "evaluated_on": out.EvaluatedOn, "action_due": actionDue,
			"late_days": max(0, daysAfter(evalDue, out.EvaluatedOn))}
		if ev.Action == "compliance.evaluation_changed" {
			details["previous_decision"], details["previous_reason"] = old.Decision, old.Reason
		}
		ev.Details = details
		return ev, nil
	})
	return out, err
}

// Evaluations lists every recorded evaluation.
func (s *Store) Evaluations(ctx context.Context) ([]Evaluation, error) {
	var out []Evaluation
	return out, s.db.WithContext(ctx).Order("subject_type, subject_id").Find(&out).Error
}

func validDate(v *domain.ValidationError, field, date string) {
	if _, err := time.Parse(time.DateOnly, date); err != nil {
		v.Add(field, "must be a date as YYYY-MM-DD, got %q", date)
	}
}

// CreateMitigationPlan files a mitigation plan for an evaluated patch or advisory whose
// decision is apply or mitigate, with its audit event ("compliance.mitigation_planned").
// Its due date may not lie before today (UTC).
func (s *Store) CreateMitigationPlan(ctx context.Context, p *MitigationPlan, ev Event) error {
	v := &domain.ValidationError{What: "mitigation plan"}
	if p.SubjectType != SubjectPatch && p.SubjectType != SubjectAdvisory {
		v.Add("subject_type", "must be patch or advisory, got %q", p.SubjectType)
	}
	if p.SubjectID == "" {
		v.Add("subject_id", "is required")
	}
	var controls []string
	for _, c := range p.CompensatingControls {
		if c = strings.TrimSpace(c); c != "" {
			controls = append(controls, c)
		}
	}
	if len(controls) == 0 {
		v.Add("compensating_controls", "name at least one compensating control")
	}
	p.Owner = strings.TrimSpace(p.Owner)
	if p.Owner == "" {
		v.Add("owner", "is required: who carries the plan out")
	}
	today := DayOf(s.Now())
	validDate(v, "due_date", p.DueOn)
	if _, err := time.Parse(time.DateOnly, p.DueOn); err == nil && p.DueOn < today {
		v.Add("due_date", "%s lies in the past (today is %s, UTC)", p.DueOn, today)
	}
	if err := v.Err(); err != nil {
		return err
	}
	b, _ := json.Marshal(controls)
	p.ID, p.Controls, p.CompensatingControls = NewID("mit"), string(b), controls
	p.OriginalDueOn, p.Status, p.CreatedBy, p.CreatedAt, p.Extensions = p.DueOn, PlanOpen, ev.Actor, s.Now(), []MitigationExtension{}
	return s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		_, ref, err := releaseDate(tx, p.SubjectType, p.SubjectID)
		if err != nil {
			return ev, err
		}
		var e Evaluation
		err = tx.Take(&e, "subject_type = ? AND subject_id = ?", p.SubjectType, p.SubjectID).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ev, fmt.Errorf("%s %s is not evaluated yet; record the evaluation (decision mitigate) before its mitigation plan: %w", p.SubjectType, p.SubjectID, ErrConflict)
		}
		if err != nil {
			return ev, err
		}
		if e.Decision == DecisionNotApplicable {
			return ev, fmt.Errorf("%s %s was evaluated as not applicable; change the decision before filing a mitigation plan: %w", p.SubjectType, p.SubjectID, ErrConflict)
		}
		if err := tx.Create(p).Error; err != nil {
			return ev, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "compliance.mitigation_planned", "mitigation_plan", p.ID
		if p.SubjectType == SubjectPatch {
			ev.PatchID = p.SubjectID
		}
		ev.Details = map[string]any{"subject_type": p.SubjectType, "subject_id": p.SubjectID, "ref": ref, "decision": e.Decision,
			"compensating_controls": controls, "owner": p.Owner, "due_date": p.DueOn}
		return ev, nil
	})
}

// CompleteMitigationPlan records that a plan was carried out ("compliance.mitigation_completed").
func (s *Store) CompleteMitigationPlan(ctx context.Context, id string, ev Event) (MitigationPlan, error) {
	var out MitigationPlan
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		if err := s.forUpdate(tx).Take(&out, "id = ?", id).Error; err != nil {
			return ev, notFound(err, "mitigation plan "+id)
		}
		if out.Status != PlanOpen {
			return ev, fmt.Errorf("mitigation plan %s is already %s: %w", id, out.Status, ErrConflict)
		}
		now := s.Now()
		out.Status, out.CompletedBy, out.CompletedAt = PlanCompleted, ev.Actor, &now
		if err := tx.Model(&MitigationPlan{}).Where("id = ?", id).Updates(map[string]any{"status": PlanCompleted, "completed_by": ev.Actor, "completed_at": now}).Error; err != nil {
			return ev, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "compliance.mitigation_completed", "mitigation_plan", id
		if out.SubjectType == SubjectPatch {
			ev.PatchID = out.SubjectID
		}
		ev.Details = map[string]any{"due_date": out.DueOn, "completed_on": DayOf(now), "late_days": max(0, daysAfter(out.DueOn, DayOf(now)))}
		return ev, nil
	})
	if err != nil {
		return out, err
	}
	return s.MitigationPlan(ctx, id)
}

// RequestExtension asks to move an open plan's due date to newDue, later than its current
// one ("compliance.extension_requested"). An approver other than the requester decides.
func (s *Store) RequestExtension(ctx context.Context, planID, newDue, reason string, ev Event) (MitigationExtension, error) {
	v := &domain.ValidationError{What: "extension"}
	validDate(v, "due_date", newDue)
	if reason = strings.TrimSpace(reason); reason == "" {
		v.Add("reason", "is required: say why the plan needs more time")
	}
	if err := v.Err(); err != nil {
		return MitigationExtension{}, err
	}
	var out MitigationExtension
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		var p MitigationPlan
		if err := s.forUpdate(tx).Take(&p, "id = ?", planID).Error; err != nil {
			return ev, notFound(err, "mitigation plan "+planID)
		}
		if p.Status != PlanOpen {
			return ev, fmt.Errorf("mitigation plan %s is %s; only an open plan can be extended: %w", planID, p.Status, ErrConflict)
		}
		if newDue <= p.DueOn {
			return ev, &domain.ValidationError{What: "extension", Fields: []domain.FieldError{{Field: "due_date",
				Message: fmt.Sprintf("must be later than the plan's current due date %s, got %s", p.DueOn, newDue)}}}
		}
		out = MitigationExtension{ID: NewID("ext"), PlanID: planID, Reason: reason, PreviousDueOn: p.DueOn, NewDueOn: newDue,
			Status: ExtensionRequested, RequestedBy: ev.Actor, RequestedAt: s.Now()}
		if err := tx.Create(&out).Error; err != nil {
			return ev, err
		}
		ev.Action, ev.SubjectType, ev.SubjectID = "compliance.extension_requested", "mitigation_plan", planID
		if p.SubjectType == SubjectPatch {
			ev.PatchID = p.SubjectID
		}
		ev.Details = map[string]any{"extension_id": out.ID, "reason": reason, "previous_due_date": p.DueOn, "new_due_date": newDue}
		return ev, nil
	})
	return out, err
}

// DecideExtension approves or rejects a requested extension. Its requester may not decide
// it (ErrForbidden). An approval moves the plan's due date in the same transaction
// ("compliance.extension_approved"; "compliance.extension_rejected").
func (s *Store) DecideExtension(ctx context.Context, id string, approve bool, reason string, ev Event) (MitigationExtension, error) {
	var out MitigationExtension
	err := s.writeWith(ctx, func(tx *gorm.DB) (Event, error) {
		if err := s.forUpdate(tx).Take(&out, "id = ?", id).Error; err != nil {
			return ev, notFound(err, "extension "+id)
		}
		if out.RequestedBy == ev.Actor {
			return ev, fmt.Errorf("extension %s was requested by %s, who may not decide it; another approver must: %w", id, ev.Actor, ErrForbidden)
		}
		if out.Status != ExtensionRequested {
			return ev, fmt.Errorf("extension %s was already %s by %s: %w", id, out.Status, out.DecidedBy, ErrConflict)
		}
		var p MitigationPlan
		if err := s.forUpdate(tx).Take(&p, "id = ?", out.PlanID).Error; err != nil {
			return ev, notFound(err, "mitigation plan "+out.PlanID)
		}
		now := s.Now()
		out.Status, out.DecidedBy, out.DecisionReason, out.DecidedAt = ExtensionRejected, ev.Actor, strings.TrimSpace(reason), &now
		ev.Action = "compliance.extension_rejected"
		if approve {
			if p.Status != PlanOpen {
				return ev, fmt.Errorf("mitigation plan %s is %s; its extension can no longer be approved: %w", p.ID, p.Status, ErrConflict)
			}
			if out.NewDueOn <= p.DueOn {
				return ev, fmt.Errorf("the plan is already due on %s, not before the extension's %s (another extension was approved): %w", p.DueOn, out.NewDueOn, ErrConflict)
			}
			if err := tx.Model(&MitigationPlan{}).Where("id = ?", p.ID).Update("due_on", out.NewDueOn).Error; err != nil {
				return ev, err
			}
			out.Status, ev.Action = ExtensionApproved, "compliance.extension_approved"
		}
		if err := tx.Model(&MitigationExtension{}).Where("id = ?", id).Updates(map[string]any{"status": out.Status,
			"decided_by": ev.Actor, "decision_reason": out.DecisionReason, "decided_at": now}).Error; err != nil {
			return ev, err
		}
		ev.SubjectType, ev.SubjectID = "mitigation_plan", p.ID
		if p.SubjectType == SubjectPatch {
			ev.PatchID = p.SubjectID
		}
		ev.Details = map[string]any{"extension_id": id, "requested_by": out.RequestedBy, "plan_due_date": p.DueOn,
			"new_due_date": out.NewDueOn, "reason": out.DecisionReason}
		return ev, nil
	})
	return out, err
}

// MitigationExtensionByID loads one extension.
func (s *Store) MitigationExtensionByID(ctx context.Context, id string) (MitigationExtension, error) {
	var e MitigationExtension
	return e, notFound(s.db.WithContext(ctx).Take(&e, "id = ?", id).Error, "extension "+id)
}

// MitigationPlan loads one plan with its extensions.
func (s *Store) MitigationPlan(ctx context.Context, id string) (MitigationPlan, error) {
	var p MitigationPlan
	if err := s.db.WithContext(ctx).Take(&p, "id = ?", id).Error; err != nil {
		return p, notFound(err, "mitigation plan "+id)
	}
	ps, err := s.withExtensions(ctx, []MitigationPlan{p})
	if err != nil {
		return p, err
	}
	return ps[0], nil
}

// MitigationPlans lists the plans, oldest first.
func (s *Store) MitigationPlans(ctx context.Context) ([]MitigationPlan, error) {
	var ps []MitigationPlan
	if err := s.db.WithContext(ctx).Order("created_at, id").Find(&ps).Error; err != nil {
		return nil, err
	}
	return s.withExtensions(ctx, ps)
}

func (s *Store) withExtensions(ctx context.Context, ps []MitigationPlan) ([]MitigationPlan, error) {
	if len(ps) == 0 {
		return ps, nil
	}
	ids := make([]string, len(ps))
	for i := range ps {
		ids[i] = ps[i].ID
	}
	var exts []MitigationExtension
	if err := s.db.WithContext(ctx).Where("plan_id IN ?", ids).Order("requested_at, id").Find(&exts).Error; err != nil {
		return nil, err
	}
	for i := range ps {
		ps[i].CompensatingControls = []string{}
		_ = json.Unmarshal([]byte(ps[i].Controls), &ps[i].CompensatingControls)
		ps[i].Extensions = []MitigationExtension{}
		for _, e := range exts {
			if e.PlanID == ps[i].ID {
				ps[i].Extensions = append(ps[i].Extensions, e)
			}
		}
	}
	return ps, nil
}

// ComplianceInput is what the report needs from outside the store.
type ComplianceInput struct {
	// AdvisoryAssets are, per advisory id, the assets the advisory still hits, as the caller
	// matched them against the inventory (internal/csaf). nil means unknown: an advisory's
	// "apply" action then counts as done only when a mitigation plan covers it.
	AdvisoryAssets map[string][]string
}

// AssetCounts counts an item's applicable assets by patch status.
type AssetCounts struct {
	Installed     int `json:"installed"`
	Pending       int `json:"pending"`
	Mitigated     int `json:"mitigated"`
	NotApplicable int `json:"not_applicable"`
}

func (c *AssetCounts) add(status string) {
	switch status {
	case AssetInstalled:
		c.Installed++
	case AssetPendingPatch:
		c.Pending++
	case AssetMitigated:
		c.Mitigated++
	case AssetNotApplicable:
		c.NotApplicable++
	}
}

// ComplianceItem is one patch's or advisory's NERC CIP-007-6 R2 state.
type ComplianceItem struct {
	SubjectType   string      `json:"subject_type"`
	SubjectID     string      `json:"subject_id"`
	Ref           string      `json:"ref"`
	Title         string      `json:"title"`
	ReleaseDate   string      `json:"release_date"`
	EvaluationDue string      `json:"evaluation_due"`
	Evaluation    *Evaluation `json:"evaluation"`
	// EvaluationLateDays is how many days after its due date the evaluation was recorded.
	EvaluationLateDays int `json:"evaluation_late_days,omitempty"`
	// EvaluationOverdue: not evaluated and the due date has passed.
	EvaluationOverdue bool             `json:"evaluation_overdue"`
	ActionDue         string           `json:"action_due,omitempty"`
	ActionStatus      string           `json:"action_status"`
	ActionOverdue     bool             `json:"action_overdue"`
	Assets            AssetCounts      `json:"assets"`
	MitigationPlans   []MitigationPlan `json:"mitigation_plans"`
	assetIDs          []string
}

// AssetPatchStatus is one applicable (asset, patch or advisory) pair.
type AssetPatchStatus struct {
	AssetID          string `json:"asset_id"`
	AssetName        string `json:"asset_name"`
	SiteID           string `json:"site_id"`
	ZoneID           string `json:"zone_id"`
	SubjectType      string `json:"subject_type"`
	SubjectID        string `json:"subject_id"`
	Ref              string `json:"ref"`
	InstalledVersion string `json:"installed_version"`
	FixedVersion     string `json:"fixed_version,omitempty"`
	Status           string `json:"status"`
}

// SiteCompliance is the IEC 62443-2-3 patch-management summary of one site.
type SiteCompliance struct {
	SiteID   string `json:"site_id"`
	SiteName string `json:"site_name"`
	Zones    int    `json:"zones"`
	Assets   int    `json:"assets"`
	// Items are the patches and advisories that apply to at least one asset of the site.
	Items int `json:"patches_and_advisories"`
	AssetCounts
	EvaluationsOverdue     int `json:"evaluations_overdue"`
	ActionsOverdue         int `json:"actions_overdue"`
	OpenMitigationPlans    int `json:"open_mitigation_plans"`
	OverdueMitigationPlans int `json:"overdue_mitigation_plans"`
	ApprovedExtensions     int `json:"approved_extensions"`
}

// OverdueEntry is one missed deadline: an evaluation, an action or a mitigation plan.
type OverdueEntry struct {
	Kind        string `json:"kind"`
	SubjectType string `json:"subject_type"`
	SubjectID   string `json:"subject_id"`
	Ref         string `json:"ref"`
	Title       string `json:"title"`
	Decision    string `json:"decision,omitempty"`
	Due         string `json:"due"`
	DaysOverdue int    `json:"days_overdue"`
	PlanID      string `json:"mitigation_plan_id,omitempty"`
	Owner       string `json:"owner,omitempty"`
}

// ComplianceReport is the whole compliance picture as of one UTC day.
type ComplianceReport struct {
	AsOf  string           `json:"as_of"`
	Items []ComplianceItem `json:"items"`
	// OverdueEvaluations and OverdueActions (actions and mitigation plans) are sorted by
	// due date.
	OverdueEvaluations []OverdueEntry     `json:"overdue_evaluations"`
	OverdueActions     []OverdueEntry     `json:"overdue_actions"`
	Assets             []AssetPatchStatus `json:"assets"`
	Sites              []SiteCompliance   `json:"sites"`
}

// Compliance computes the report as of the store clock's UTC day: every patch that was not
// rejected in qualification and every advisory, with their deadlines, per-asset patch status
// and per-site counts.
func (s *Store) Compliance(ctx context.Context, in ComplianceInput) (ComplianceReport, error) {
	today := DayOf(s.Now())
	rep := ComplianceReport{AsOf: today, Items: []ComplianceItem{}, OverdueEvaluations: []OverdueEntry{}, OverdueActions: []OverdueEntry{},
		Assets: []AssetPatchStatus{}, Sites: []SiteCompliance{}}
	patches, err := s.Patches(ctx, "")
	if err != nil {
		return rep, err
	}
	advisories, err := s.Advisories(ctx)
	if err != nil {
		return rep, err
	}
	evals, err := s.Evaluations(ctx)
	if err != nil {
		return rep, err
	}
	plans, err := s.MitigationPlans(ctx)
	if err != nil {
		return rep, err
	}
	notAffected, err := s.notAffected(ctx)
	if err != nil {
		return rep, err
	}
	assets, err := s.Assets(ctx, AssetFilter{})
	if err != nil {
		return rep, err
	}
	zones, err := s.Zones(ctx)
	if err != nil {
		return rep, err
	}
	sites, err := s.Sites(ctx)
	if err != nil {
		return rep, err
	}
	key := func(t, id string) string { return t + "/" + id }
	evalOf := map[string]*Evaluation{}
	for i := range evals {
		evalOf[key(evals[i].SubjectType, evals[i].SubjectID)] = &evals[i]
	}
	plansOf := map[string][]MitigationPlan{}
	for _, p := range plans {
		plansOf[key(p.SubjectType, p.SubjectID)] = append(plansOf[key(p.SubjectType, p.SubjectID)], p)
	}
	assetByID := map[string]Asset{}
	for _, a := range assets {
		assetByID[a.ID] = a
	}
	siteOfZone := map[string]string{}
	for _, z := range zones {
		siteOfZone[z.ID] = z.SiteID
	}

	type subject struct {
		item    ComplianceItem
		fixed   string
		patch   bool
		unknown bool // an advisory whose affected assets the caller did not give
	}
	var subjects []subject
	for _, p := range patches {
		if p.Status == string(domain.PatchRejected) {
			continue
		}
		var ids []string
		_ = json.Unmarshal([]byte(p.Applicable), &ids)
		fixed := p.Version
		if m, err := ManifestOf(p); err == nil && m.FixedVersion != "" {
			fixed = m.FixedVersion
		}
		subjects = append(subjects, subject{patch: true, fixed: fixed, item: ComplianceItem{SubjectType: SubjectPatch, SubjectID: p.ID,
			Ref: p.PatchRef + " " + p.Version, Title: p.Title, ReleaseDate: patchReleaseDate(p), assetIDs: ids}})
	}
	for _, a := range advisories {
		subjects = append(subjects, subject{unknown: in.AdvisoryAssets == nil,
			item: ComplianceItem{SubjectType: SubjectAdvisory, SubjectID: a.ID, Ref: a.TrackingID, Title: a.Title, ReleaseDate: DayOf(a.ReleasedAt), assetIDs: in.AdvisoryAssets[a.ID]}})
	}

	siteIdx := map[string]*SiteCompliance{}
	for _, st := range sites {
		rep.Sites = append(rep.Sites, SiteCompliance{SiteID: st.ID, SiteName: st.Name})
	}
	for i := range rep.Sites {
		siteIdx[rep.Sites[i].SiteID] = &rep.Sites[i]
	}
	for _, z := range zones {
		if sc := siteIdx[z.SiteID]; sc != nil {
			sc.Zones++
		}
	}
	for _, a := range assets {
		if sc := siteIdx[siteOfZone[a.ZoneID]]; sc != nil {
			sc.Assets++
		}
	}

	for _, sub := range subjects {
		it := sub.item
		k := key(it.SubjectType, it.SubjectID)
		it.EvaluationDue, _ = AddDays(it.ReleaseDate, ComplianceDays)
		it.Evaluation = evalOf[k]
		it.MitigationPlans = plansOf[k]
		if it.MitigationPlans == nil {
			it.MitigationPlans = []MitigationPlan{}
		}
		decision := ""
		if it.Evaluation != nil {
			decision = it.Evaluation.Decision
		}
		// Per-asset status.
		itemSites := map[string]bool{}
		for _, id := range it.assetIDs {
			a, ok := assetByID[id]
			if !ok {
				continue
			}
			st := AssetPendingPatch
			switch {
			case sub.patch && domain.CompareVersions(a.InstalledVersion, sub.fixed) >= 0:
				st = AssetInstalled
			case decision == DecisionNotApplicable, !sub.patch && notAffected[it.SubjectID+"/"+id]:
				st = AssetNotApplicable
			case len(it.MitigationPlans) > 0:
				st = AssetMitigated
			}
			it.Assets.add(st)
			site := siteOfZone[a.ZoneID]
			itemSites[site] = true
			row := AssetPatchStatus{AssetID: a.ID, AssetName: a.Name, SiteID: site, ZoneID: a.ZoneID, SubjectType: it.SubjectType,
				SubjectID: it.SubjectID, Ref: it.Ref, InstalledVersion: a.InstalledVersion, Status: st}
			if sub.patch {
				row.FixedVersion = sub.fixed
			}
			rep.Assets = append(rep.Assets, row)
			if sc := siteIdx[site]; sc != nil {
				sc.AssetCounts.add(st)
			}
		}
		// Deadlines.
		switch {
		case it.Evaluation == nil:
			it.ActionStatus = ActionAwaitingEvaluation
			if today > it.EvaluationDue {
				it.EvaluationOverdue = true
				rep.OverdueEvaluations = append(rep.OverdueEvaluations, OverdueEntry{Kind: "evaluation", SubjectType: it.SubjectType,
					SubjectID: it.SubjectID, Ref: it.Ref, Title: it.Title, Due: it.EvaluationDue, DaysOverdue: daysAfter(it.EvaluationDue, today)})
			}
		default:
			it.EvaluationLateDays = max(0, daysAfter(it.EvaluationDue, it.Evaluation.EvaluatedOn))
			it.ActionDue, _ = AddDays(it.Evaluation.EvaluatedOn, ComplianceDays)
			switch decision {
			case DecisionNotApplicable:
				it.ActionStatus = ActionNone
			case DecisionMitigate:
				it.ActionStatus = ActionOpen
				if len(it.MitigationPlans) > 0 {
					it.ActionStatus = ActionDone
				}
			case DecisionApply:
				it.ActionStatus = ActionOpen
				if len(it.MitigationPlans) > 0 || (!sub.unknown && it.Assets.Pending == 0) {
					it.ActionStatus = ActionDone
				}
			}
			if it.ActionStatus == ActionOpen && today > it.ActionDue {
				it.ActionOverdue = true
				rep.OverdueActions = append(rep.OverdueActions, OverdueEntry{Kind: "action", SubjectType: it.SubjectType, SubjectID: it.SubjectID,
					Ref: it.Ref, Title: it.Title, Decision: decision, Due: it.ActionDue, DaysOverdue: daysAfter(it.ActionDue, today)})
			}
		}
		planOverdue := 0
		for _, p := range it.MitigationPlans {
			if p.Status == PlanOpen && today > p.DueOn {
				planOverdue++
				rep.OverdueActions = append(rep.OverdueActions, OverdueEntry{Kind: "mitigation_plan", SubjectType: it.SubjectType, SubjectID: it.SubjectID,
					Ref: it.Ref, Title: it.Title, Decision: decision, Due: p.DueOn, DaysOverdue: daysAfter(p.DueOn, today), PlanID: p.ID, Owner: p.Owner})
			}
		}
		for site := range itemSites {
			sc := siteIdx[site]
			if sc == nil {
				continue
			}
			sc.Items++
			if it.EvaluationOverdue {
				sc.EvaluationsOverdue++
			}
			if it.ActionOverdue {
				sc.ActionsOverdue++
			}
			sc.OverdueMitigationPlans += planOverdue
			for _, p := range it.MitigationPlans {
				if p.Status == PlanOpen {
					sc.OpenMitigationPlans++
				}
				for _, e := range p.Extensions {
					if e.Status == ExtensionApproved {
						sc.ApprovedExtensions++
					}
				}
			}
		}
		rep.Items = append(rep.Items, it)
	}
	slices.SortStableFunc(rep.Items, func(a, b ComplianceItem) int {
		return strings.Compare(a.ReleaseDate+a.Ref+a.SubjectID, b.ReleaseDate+b.Ref+b.SubjectID)
	})
	byDue := func(a, b OverdueEntry) int {
		return strings.Compare(a.Due+a.Ref+a.SubjectID+a.PlanID, b.Due+b.Ref+b.SubjectID+b.PlanID)
	}
	slices.SortStableFunc(rep.OverdueEvaluations, byDue)
	slices.SortStableFunc(rep.OverdueActions, byDue)
	slices.SortStableFunc(rep.Assets, func(a, b AssetPatchStatus) int {
		return strings.Compare(a.AssetName+"\x00"+a.Ref+"\x00"+a.SubjectID, b.AssetName+"\x00"+b.Ref+"\x00"+b.SubjectID)
	})
	return rep, nil
}
