-- Restore drills: a plan per product or per zone (exactly one of product_id and zone_id is set)
-- that restores the most recent verified production backup of one of its assets onto a
-- test-bench asset of the same product every interval_hours (a Temporal Schedule drill-<id>).
-- last_passed_at is when the last passing run ended; a plan is overdue when neither it nor
-- created_at lies within interval_hours of now (domain.DrillDue).
CREATE TABLE drills (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    product_id     TEXT NOT NULL DEFAULT '',
    zone_id        TEXT NOT NULL DEFAULT '',
    interval_hours INTEGER NOT NULL,
    last_run_id    TEXT NOT NULL DEFAULT '',
    last_run_at    {{TS}},
    last_result    TEXT NOT NULL DEFAULT '',
    last_passed_at {{TS}},
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     {{TS}} NOT NULL
);

-- drill_runs: one run of a drill. result is running, passed or failed (reason says why);
-- source_asset_id, backup_campaign_id, backup_key and backup_sha256 name the production backup
-- restored, bench_asset_id where; restore_ms is the time from the start of the restore to the
-- end of the verification that followed it.
CREATE TABLE drill_runs (
    id                 TEXT PRIMARY KEY,
    drill_id           TEXT NOT NULL,
    workflow_id        TEXT NOT NULL DEFAULT '',
    started_by         TEXT NOT NULL DEFAULT '',
    result             TEXT NOT NULL,
    reason             TEXT NOT NULL DEFAULT '',
    source_asset_id    TEXT NOT NULL DEFAULT '',
    bench_asset_id     TEXT NOT NULL DEFAULT '',
    backup_campaign_id TEXT NOT NULL DEFAULT '',
    backup_key         TEXT NOT NULL DEFAULT '',
    backup_sha256      TEXT NOT NULL DEFAULT '',
    backup_version     TEXT NOT NULL DEFAULT '',
    verified_version   TEXT NOT NULL DEFAULT '',
    restore_ms         INTEGER NOT NULL DEFAULT 0,
    started_at         {{TS}} NOT NULL,
    finished_at        {{TS}}
);
CREATE INDEX drill_runs_drill ON drill_runs (drill_id, started_at);
