-- The deployment engine: operators' pause, resume and abort of campaigns, and alarms that ask
-- for manual action (a rollback that failed).
CREATE TABLE campaign_operations (
    id          TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id),
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    at          {{TS}} NOT NULL
);
CREATE INDEX campaign_operations_campaign ON campaign_operations (campaign_id, at);

CREATE TABLE alarms (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    campaign_id TEXT NOT NULL DEFAULT '',
    asset_id    TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL,
    raised_at   {{TS}} NOT NULL
);
CREATE INDEX alarms_raised ON alarms (raised_at);
