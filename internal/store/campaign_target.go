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
