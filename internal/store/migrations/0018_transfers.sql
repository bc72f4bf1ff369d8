-- Air-gapped sites (otpatch transfer). sites.transfer_key is the site's transfer public key
-- (base64 of the 32 raw ed25519 bytes) that the central instance pins: only bundles it signed
-- are imported from the site. campaigns.imported_from names, on a site's own instance, the
-- plan bundle a campaign came from ("<origin> plan <sequence> <digest>"); empty otherwise.
ALTER TABLE sites ADD COLUMN transfer_key TEXT NOT NULL DEFAULT '';
ALTER TABLE campaigns ADD COLUMN imported_from TEXT NOT NULL DEFAULT '';

-- transfers: every bundle this instance wrote (direction "out") or imported ("in"), per site
-- and kind, by sequence. The importer's last row per (site, kind) is what a new bundle's
-- sequence is checked against (docs/transfer-format.md §4.1); the writer's last row gives
-- the next sequence. digest is SHA-256 of the bundle's header, file_sha256 of the whole file.
CREATE TABLE transfers (
    site_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    direction   TEXT NOT NULL,
    sequence    BIGINT NOT NULL,
    digest      TEXT NOT NULL,
    file_sha256 TEXT NOT NULL DEFAULT '',
    size        BIGINT NOT NULL DEFAULT 0,
    campaign_id TEXT NOT NULL DEFAULT '',
    origin      TEXT NOT NULL DEFAULT '',
    created_at  {{TS}} NOT NULL,
    expires_at  {{TS}} NOT NULL,
    recorded_at {{TS}} NOT NULL,
    recorded_by TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site_id, kind, direction, sequence)
);
CREATE INDEX transfers_campaign ON transfers (campaign_id, kind, direction);
