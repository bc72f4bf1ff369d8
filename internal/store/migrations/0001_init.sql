-- otpatch schema, version 1. {{TS}} is TIMESTAMP on SQLite and TIMESTAMPTZ on PostgreSQL.
CREATE TABLE vendors (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    created_at   {{TS}} NOT NULL
);

CREATE TABLE vendor_keys (
    id          TEXT PRIMARY KEY,
    vendor_id   TEXT NOT NULL REFERENCES vendors(id),
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    not_before  {{TS}} NOT NULL,
    not_after   {{TS}} NOT NULL,
    revoked_at  {{TS}},
    created_at  {{TS}} NOT NULL
);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    vendor_id  TEXT REFERENCES vendors(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{TS}} NOT NULL,
    revoked_at {{TS}}
);

CREATE TABLE sites (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at {{TS}} NOT NULL
);

CREATE TABLE zones (
    id          TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id),
    name        TEXT NOT NULL,
    sl_t        INTEGER NOT NULL,
    test_bench  BOOLEAN NOT NULL DEFAULT FALSE,
    window_spec TEXT NOT NULL,
    created_at  {{TS}} NOT NULL,
    updated_at  {{TS}} NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE products (
    id        TEXT PRIMARY KEY,
    vendor_id TEXT NOT NULL REFERENCES vendors(id),
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    UNIQUE (vendor_id, name)
);

CREATE TABLE assets (
    id                TEXT PRIMARY KEY,
    zone_id           TEXT NOT NULL REFERENCES zones(id),
    product_id        TEXT NOT NULL REFERENCES products(id),
    name              TEXT NOT NULL UNIQUE,
    installed_version TEXT NOT NULL,
    criticality       INTEGER NOT NULL,
    safety_critical   BOOLEAN NOT NULL DEFAULT FALSE,
    redundancy_group  TEXT NOT NULL DEFAULT '',
    adapter           TEXT NOT NULL,
    created_at        {{TS}} NOT NULL,
    updated_at        {{TS}} NOT NULL
);

CREATE TABLE patches (
    id              TEXT PRIMARY KEY,
    vendor_id       TEXT NOT NULL REFERENCES vendors(id),
    product_id      TEXT NOT NULL REFERENCES products(id),
    patch_ref       TEXT NOT NULL,
    version         TEXT NOT NULL,
    title           TEXT NOT NULL,
    status          TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    signature       TEXT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    reasons         TEXT NOT NULL DEFAULT '[]',
    applicable      TEXT NOT NULL DEFAULT '[]',
    submitted_by    TEXT NOT NULL,
    created_at      {{TS}} NOT NULL,
    updated_at      {{TS}} NOT NULL,
    UNIQUE (vendor_id, patch_ref, version)
);

CREATE TABLE patch_artifacts (
    patch_id   TEXT NOT NULL REFERENCES patches(id),
    name       TEXT NOT NULL,
    object_key TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    media_type TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (patch_id, name)
);

CREATE TABLE campaigns (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    patch_id          TEXT NOT NULL REFERENCES patches(id),
    status            TEXT NOT NULL,
    detail            TEXT NOT NULL DEFAULT '',
    created_by        TEXT NOT NULL,
    plan              TEXT NOT NULL,
    plan_digest       TEXT NOT NULL,
    workflow_id       TEXT NOT NULL,
    next_window_start {{TS}},
    next_window_end   {{TS}},
    created_at        {{TS}} NOT NULL,
    updated_at        {{TS}} NOT NULL
);

CREATE TABLE campaign_assets (
    campaign_id   TEXT NOT NULL REFERENCES campaigns(id),
    asset_id      TEXT NOT NULL REFERENCES assets(id),
    test_bench    BOOLEAN NOT NULL DEFAULT FALSE,
    wave          INTEGER NOT NULL,
    state         TEXT NOT NULL,
    from_version  TEXT NOT NULL DEFAULT '',
    to_version    TEXT NOT NULL DEFAULT '',
    backup_key    TEXT NOT NULL DEFAULT '',
    backup_sha256 TEXT NOT NULL DEFAULT '',
    backup_size   BIGINT NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    updated_at    {{TS}} NOT NULL,
    PRIMARY KEY (campaign_id, asset_id)
);

CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    decision    TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    plan_digest TEXT NOT NULL,
    at          {{TS}} NOT NULL
);

CREATE TABLE audit_events (
    seq          BIGINT PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    role         TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    campaign_id  TEXT NOT NULL DEFAULT '',
    patch_id     TEXT NOT NULL DEFAULT '',
    asset_id     TEXT NOT NULL DEFAULT '',
    request_id   TEXT NOT NULL DEFAULT '',
    workflow_id  TEXT NOT NULL DEFAULT '',
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

CREATE TABLE sim_devices (
    asset_id   TEXT PRIMARY KEY REFERENCES assets(id),
    version    TEXT NOT NULL,
    config     TEXT NOT NULL,
    health     TEXT NOT NULL,
    faults     TEXT NOT NULL DEFAULT '{}',
    updated_at {{TS}} NOT NULL
);

CREATE TABLE sim_operations (
    idempotency_key TEXT PRIMARY KEY,
    asset_id        TEXT NOT NULL REFERENCES assets(id),
    op              TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    at              {{TS}} NOT NULL
);
