-- Pages of a campaign's assets in the order the campaign runs them (wave, then asset id), with
-- or without a state filter, and their counts by wave and state: the campaign page and
-- GET /api/v1/campaigns/{id}/assets read a page of these indexes, however large the campaign.
CREATE INDEX campaign_assets_page ON campaign_assets (campaign_id, wave, asset_id);
CREATE INDEX campaign_assets_state ON campaign_assets (campaign_id, state, wave, asset_id);
-- The campaign list, newest first (ties by id), pages through this index.
CREATE INDEX campaigns_created ON campaigns (created_at, id);
