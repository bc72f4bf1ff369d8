package store

import (
	"context"

	"github.com/otpatch/otpatch/internal/audit"
)

// ProgramRecords is what the program report is computed from: the inventory as it is, every
// patch and campaign, and the audit events of their transitions. Nothing in it is a stored
// figure; the report derives each from these.
type ProgramRecords struct {
	Sites          []Site
	Zones          []Zone
	Assets         []Asset
	Patches        []Patch
	Campaigns      []Campaign
	CampaignAssets []CampaignAsset
	// Events are the patch, campaign and asset transitions, in sequence order.
	Events []audit.Event
}

// programActions are the campaign and patch transitions the report reads; every asset.*
// transition is read as well.
var programActions = []string{"patch.qualified", "campaign.approved", "campaign.deploying", "campaign.completed",
	"campaign.halted", "campaign.rolled_back", "campaign.aborted"}

// ProgramRecords reads the records of the program report.
func (s *Store) ProgramRecords(ctx context.Context) (ProgramRecords, error) {
	var out ProgramRecords
	db := s.db.WithContext(ctx)
	var err error
	if out.Sites, err = s.Sites(ctx); err != nil {
		return out, err
	}
	if out.Zones, err = s.Zones(ctx); err != nil {
		return out, err
	}
	if out.Assets, err = s.Assets(ctx, AssetFilter{}); err != nil {
		return out, err
	}
	if err := db.Order("created_at, id").Find(&out.Patches).Error; err != nil {
		return out, err
	}
	if err := db.Order("created_at, id").Find(&out.Campaigns).Error; err != nil {
		return out, err
	}
	if err := db.Order("campaign_id, asset_id").Find(&out.CampaignAssets).Error; err != nil {
		return out, err
	}
	var rows []auditRow
	if err := db.Model(&auditRow{}).Where("action IN ? OR action LIKE ?", programActions, "asset.%").Order("seq").Find(&rows).Error; err != nil {
		return out, err
	}
	out.Events = make([]audit.Event, len(rows))
	for i, r := range rows {
		out.Events[i] = audit.Event(r)
	}
	return out, nil
}
