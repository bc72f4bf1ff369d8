-- Reaching real devices: how an asset is reached (adapters.Endpoint as JSON; NULL for the
-- simulator), and the deployment log: what a device printed while otpatch backed it up,
-- installed, verified or restored a patch, per campaign and asset, in order.
ALTER TABLE assets ADD COLUMN endpoint TEXT;

CREATE TABLE deployment_logs (
    id          TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    campaign_id TEXT NOT NULL,
    asset_id    TEXT NOT NULL,
    stream      TEXT NOT NULL,
    text        TEXT NOT NULL,
    at          {{TS}} NOT NULL
);
CREATE INDEX deployment_logs_asset ON deployment_logs (campaign_id, asset_id, seq);
