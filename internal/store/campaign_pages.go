package store

import (
	"context"
)

// A campaign's assets are read a page at a time, in the order the campaign runs them (wave,
// then asset id; the test-bench runs are wave 0), and counted by wave and state in one grouped
// query: the campaign page costs the same for 10 assets or 10,000.

// CampaignAssetFilter selects a page of one campaign's assets.
type CampaignAssetFilter struct {
	CampaignID string
	// State, when set, keeps the assets in that state only.
	State string
	// AfterWave and AfterAssetID are the wave and asset id of the last asset of the previous
	// page; AfterAssetID is empty for the first page.
	AfterWave    int
	AfterAssetID string
	// Limit is how many assets to read at most.
	Limit int
}

// NamedCampaignAsset is one asset of a campaign with the asset's name in the inventory.
type NamedCampaignAsset struct {
	CampaignAsset
	Name string
}

// CampaignAssetsPage reads the assets f selects in wave and asset id order, after f's last one,
// with their names: one keyset page of the indexes campaign_assets_page and
// campaign_assets_state, so a page costs the same however deep it is.
func (s *Store) CampaignAssetsPage(ctx context.Context, f CampaignAssetFilter) ([]NamedCampaignAsset, error) {
	q := s.db.WithContext(ctx).Table("campaign_assets AS ca").Select("ca.*, a.name").
		Joins("JOIN assets a ON a.id = ca.asset_id").Where("ca.campaign_id = ?", f.CampaignID)
	if f.State != "" {
		q = q.Where("ca.state = ?", f.State)
	}
	if f.AfterAssetID != "" {
		// A row comparison, which both databases read as one range of the index; the same
		// condition spelt with OR has PostgreSQL walk the campaign's assets from the first.
		q = q.Where("(ca.wave, ca.asset_id) > (?, ?)", f.AfterWave, f.AfterAssetID)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	out := []NamedCampaignAsset{}
	return out, q.Order("ca.wave, ca.asset_id").Scan(&out).Error
}

// CampaignAssetCount is how many of a campaign's assets of one wave are in one state.
type CampaignAssetCount struct {
	Wave  int
	State string
	N     int
}

// CampaignAssetCounts counts a campaign's assets by wave and state, in wave and state order.
func (s *Store) CampaignAssetCounts(ctx context.Context, campaignID string) ([]CampaignAssetCount, error) {
	out := []CampaignAssetCount{}
	err := s.db.WithContext(ctx).Table("campaign_assets").Select("wave, state, COUNT(*) AS n").
		Where("campaign_id = ?", campaignID).Group("wave, state").Order("wave, state").Scan(&out).Error
	return out, err
}

// CampaignHead loads one campaign without its plan, which for a large campaign is megabytes:
// what a page reads on every request when the plan it needs is read once per plan digest.
func (s *Store) CampaignHead(ctx context.Context, id string) (Campaign, error) {
	var c Campaign
	return c, notFound(s.db.WithContext(ctx).Omit("plan").Take(&c, "id = ?", id).Error, "campaign "+id)
}

// CampaignAssetsOf reads the rows of the named assets of a campaign (its bench runs, say), in
// asset id order; assets that are not the campaign's are left out.
func (s *Store) CampaignAssetsOf(ctx context.Context, campaignID string, assetIDs []string) ([]CampaignAsset, error) {
	out := []CampaignAsset{}
	if len(assetIDs) == 0 {
		return out, nil
	}
	return out, s.db.WithContext(ctx).Where("campaign_id = ? AND asset_id IN ?", campaignID, assetIDs).Order("asset_id").Find(&out).Error
}
