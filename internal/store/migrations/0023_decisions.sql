-- Decisions on advisories: for an advisory and a group of the assets it hits, patch (with the
-- campaign it created), mitigate (a compensating control on a NERC mitigation plan), accept the
-- risk (approved by another person, until an expiry) or not affected (a CSAF VEX justification).
-- advisory_decision_assets holds the group, one row per asset; a row's superseded_by names the
-- newer decision that replaced it for that asset. Dates a person gives (review, expiry) are UTC
-- calendar dates kept as TEXT 'YYYY-MM-DD'. {{TS}} is TIMESTAMP on SQLite and TIMESTAMPTZ on
-- PostgreSQL.
CREATE TABLE advisory_decisions (
    id                 TEXT PRIMARY KEY,
    advisory_id        TEXT NOT NULL REFERENCES advisories(id),
    tracking_id        TEXT NOT NULL,
    kind               TEXT NOT NULL,
    state              TEXT NOT NULL,
    selector           TEXT NOT NULL,
    asset_count        INTEGER NOT NULL,
    patch_id           TEXT NOT NULL DEFAULT '',
    campaign_id        TEXT NOT NULL DEFAULT '',
    mitigation_plan_id TEXT NOT NULL DEFAULT '',
    control_kind       TEXT NOT NULL DEFAULT '',
    description        TEXT NOT NULL DEFAULT '',
    owner              TEXT NOT NULL DEFAULT '',
    evidence           TEXT NOT NULL DEFAULT '',
    review_on          TEXT NOT NULL DEFAULT '',
    justification      TEXT NOT NULL DEFAULT '',
    approver           TEXT NOT NULL DEFAULT '',
    expires_on         TEXT NOT NULL DEFAULT '',
    vex_justification  TEXT NOT NULL DEFAULT '',
    impact_statement   TEXT NOT NULL DEFAULT '',
    requested_by       TEXT NOT NULL,
    requested_by_user  TEXT NOT NULL DEFAULT '',
    requested_at       {{TS}} NOT NULL,
    approved_by        TEXT NOT NULL DEFAULT '',
    approved_at        {{TS}},
    rejected_by        TEXT NOT NULL DEFAULT '',
    rejected_at        {{TS}},
    reject_reason      TEXT NOT NULL DEFAULT '',
    superseded_by      TEXT NOT NULL DEFAULT '',
    superseded_at      {{TS}}
);
CREATE INDEX advisory_decisions_requested ON advisory_decisions (requested_at, id);
CREATE INDEX advisory_decisions_advisory ON advisory_decisions (advisory_id, requested_at, id);
CREATE INDEX advisory_decisions_campaign ON advisory_decisions (campaign_id);

CREATE TABLE advisory_decision_assets (
    decision_id   TEXT NOT NULL REFERENCES advisory_decisions(id),
    advisory_id   TEXT NOT NULL,
    asset_id      TEXT NOT NULL,
    superseded_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (decision_id, asset_id)
);
CREATE INDEX advisory_decision_assets_current ON advisory_decision_assets (advisory_id, asset_id, superseded_by);
