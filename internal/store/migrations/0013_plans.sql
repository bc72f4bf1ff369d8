-- asset_claims: a production asset is the target of at most one campaign that has not ended.
-- The claim is written in the same transaction as the campaign, so two concurrent plans of the
-- same asset cannot both commit; it is released when the campaign ends.
CREATE TABLE asset_claims (
    asset_id    TEXT PRIMARY KEY REFERENCES assets(id),
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    created_at  {{TS}} NOT NULL
);
CREATE INDEX asset_claims_campaign ON asset_claims (campaign_id);

-- Claims of the campaigns open when this migration runs: the oldest campaign keeps an asset.
INSERT INTO asset_claims (asset_id, campaign_id, created_at)
SELECT ca.asset_id, c.id, c.created_at
  FROM campaign_assets ca JOIN campaigns c ON c.id = ca.campaign_id
 WHERE ca.test_bench = FALSE
   AND c.status NOT IN ('test_failed', 'rejected', 'completed', 'halted', 'rolled_back', 'aborted')
 ORDER BY c.created_at
ON CONFLICT (asset_id) DO NOTHING;

-- bench_baselines: verified backups of test-bench assets, one per asset and version, so a
-- bench can be brought back to the version a later campaign's targets run.
CREATE TABLE bench_baselines (
    asset_id    TEXT NOT NULL REFERENCES assets(id),
    version     TEXT NOT NULL,
    object_key  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    campaign_id TEXT NOT NULL,
    created_at  {{TS}} NOT NULL,
    PRIMARY KEY (asset_id, version)
);
