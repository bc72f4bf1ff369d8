-- Indexes for the audit queries and the campaign views.
CREATE INDEX audit_events_campaign ON audit_events (campaign_id, seq);
CREATE INDEX audit_events_patch ON audit_events (patch_id, seq);
CREATE INDEX audit_events_asset ON audit_events (asset_id, seq);
CREATE INDEX campaign_assets_asset ON campaign_assets (asset_id);
CREATE INDEX assets_zone ON assets (zone_id);
CREATE INDEX sim_operations_asset ON sim_operations (asset_id, at);
