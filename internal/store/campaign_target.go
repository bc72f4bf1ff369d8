package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// CampaignTarget loads one target of a campaign; ok is false when the asset is not one.
func (s *Store) CampaignTarget(ctx context.Context, campaignID, assetID string) (ca CampaignAsset, ok bool, err error) {
	err = s.db.WithContext(ctx).Take(&ca, "campaign_id = ? AND asset_id = ?", campaignID, assetID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return CampaignAsset{}, false, nil
	}
	return ca, err == nil, err
}

// CampaignLabels is what names a campaign in Temporal: its name, its patch, and each zone of
// its targets with the zone's site.
type CampaignLabels struct {
	Name, PatchID string
	ZoneSites     map[string]string
}

// CampaignLabels reads a campaign's labels.
func (s *Store) CampaignLabels(ctx context.Context, id string) (CampaignLabels, error) {
	var c struct{ Name, PatchID string }
	if err := s.db.WithContext(ctx).Raw(`SELECT name, patch_id FROM campaigns WHERE id = ?`, id).Scan(&c).Error; err != nil {
		return CampaignLabels{}, err
	}
	var zones []struct{ ID, SiteID string }
	if err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT z.id AS id, z.site_id AS site_id FROM campaign_assets ca
		JOIN assets a ON a.id = ca.asset_id JOIN zones z ON z.id = a.zone_id WHERE ca.campaign_id = ?`, id).Scan(&zones).Error; err != nil {
		return CampaignLabels{}, err
	}
	l := CampaignLabels{Name: c.Name, PatchID: c.PatchID, ZoneSites: map[string]string{}}
	for _, z := range zones {
		l.ZoneSites[z.ID] = z.SiteID
	}
	return l, nil
}
