package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/domain"
)

// OperatorAction is an engineer's pause, resume or abort of a campaign.
type OperatorAction struct {
	ID         string    `json:"id"`
	CampaignID string    `json:"campaign_id"`
	Actor      string    `json:"actor"`
	Role       string    `json:"role"`
	Action     string    `json:"action"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// TableName maps OperatorAction to its table.
func (OperatorAction) TableName() string { return "campaign_operations" }

// AddOperatorAction records an operator action with its audit event, once per ID.
func (s *Store) AddOperatorAction(ctx context.Context, op *OperatorAction, ev Event) error {
	op.At = op.At.UTC()
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", op.CampaignID, op.CampaignID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&OperatorAction{}).Where("id = ?", op.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUnchanged
		}
		return tx.Create(op).Error
	})
}

// OperatorActions lists a campaign's operator actions, oldest first.
func (s *Store) OperatorActions(ctx context.Context, campaignID string) ([]OperatorAction, error) {
	var out []OperatorAction
	return out, s.db.WithContext(ctx).Where("campaign_id = ?", campaignID).Order("at").Find(&out).Error
}

// ReplanWindow gives every target of the campaign in zoneID the window w and stores the plan's
// new digest with ev, in one transaction. It returns the digest the plan has afterwards; when
// the plan already had that window nothing is written.
func (s *Store) ReplanWindow(ctx context.Context, campaignID, zoneID string, w domain.Window, ev Event) (string, bool, error) {
	return s.Replan(ctx, campaignID, func(p domain.Plan) (domain.Plan, bool) { return p.WithWindow(zoneID, w) }, ev)
}

// Replan stores the campaign's plan as change makes it, with its new digest and ev, in one
// transaction; ev's details (a map) get from_digest and to_digest. It returns the digest the
// plan has afterwards and whether it changed; when change changes nothing, nothing is written.
func (s *Store) Replan(ctx context.Context, campaignID string, change func(domain.Plan) (domain.Plan, bool), ev Event) (string, bool, error) {
	var digest string
	var changed bool
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", campaignID, campaignID
	err := s.Write(ctx, ev, func(tx *gorm.DB) error {
		var c Campaign
		if err := tx.Take(&c, "id = ?", campaignID).Error; err != nil {
			return notFound(err, "campaign "+campaignID)
		}
		var plan domain.Plan
		if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
			return fmt.Errorf("campaign %s plan: %w", c.ID, err)
		}
		next, ch := change(plan)
		digest = c.PlanDigest
		if !ch {
			return ErrUnchanged
		}
		changed, digest = true, next.Digest()
		b, _ := json.Marshal(next)
		details, _ := ev.Details.(map[string]any)
		if details != nil {
			details["from_digest"], details["to_digest"] = c.PlanDigest, digest
		}
		return tx.Model(&Campaign{}).Where("id = ?", c.ID).Updates(map[string]any{"plan": string(b), "plan_digest": digest, "updated_at": s.Now()}).Error
	})
	return digest, changed, err
}

// CampaignsInZone lists the campaigns that have not ended and have a target in zoneID.
func (s *Store) CampaignsInZone(ctx context.Context, zoneID string) ([]Campaign, error) {
	var cs []Campaign
	if err := s.db.WithContext(ctx).Where("status NOT IN ?", domain.TerminalStatuses()).Order("created_at").Find(&cs).Error; err != nil {
		return nil, err
	}
	var out []Campaign
	for _, c := range cs {
		if !strings.Contains(c.Plan, zoneID) {
			continue
		}
		var plan domain.Plan
		if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
			continue
		}
		for _, t := range plan.Targets {
			if t.ZoneID == zoneID {
				out = append(out, c)
				break
			}
		}
	}
	return out, nil
}

// Alarm asks a person for manual action: a rollback that failed leaves a device in an unknown
// state.
type Alarm struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	CampaignID string    `json:"campaign_id,omitempty"`
	AssetID    string    `json:"asset_id,omitempty"`
	Message    string    `json:"message"`
	RaisedAt   time.Time `json:"raised_at"`
	// ClearedAt and ClearedBy say who settled the alarm and when (an unknown device rejected).
	ClearedAt *time.Time `json:"cleared_at,omitempty"`
	ClearedBy string     `json:"cleared_by,omitempty"`
}

// RaiseAlarm records an alarm with its audit event, once per ID.
func (s *Store) RaiseAlarm(ctx context.Context, al *Alarm, ev Event) error {
	al.RaisedAt = al.RaisedAt.UTC()
	ev.SubjectType, ev.SubjectID, ev.CampaignID, ev.AssetID = "alarm", al.ID, al.CampaignID, al.AssetID
	return s.Write(ctx, ev, func(tx *gorm.DB) error {
		var n int64
		if err := tx.Model(&Alarm{}).Where("id = ?", al.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrUnchanged
		}
		return tx.Create(al).Error
	})
}
