-- Exploitation data and zone conduits, for the priority of each (asset, vulnerability).
--
-- exploitation_imports: every accepted import of CISA's KEV catalog or FIRST's EPSS scores,
-- with the source's own version and date (KEV catalogVersion and dateReleased; EPSS
-- model_version and score_date), how many entries it had, where it came from and who imported
-- it. The newest released_at of a source is the data in kev_entries or epss_scores: a newer
-- import replaces those rows, an older one is refused.
CREATE TABLE exploitation_imports (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL,
    version      TEXT NOT NULL,
    released_at  {{TS}} NOT NULL,
    entries      INTEGER NOT NULL,
    origin       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    imported_by  TEXT NOT NULL,
    imported_at  {{TS}} NOT NULL
);
CREATE INDEX exploitation_imports_source ON exploitation_imports (source, released_at);

-- kev_entries: the KEV catalog of the newest KEV import, one row per CVE. Dates are the
-- catalog's calendar dates, TEXT 'YYYY-MM-DD'; cwes is a JSON list.
CREATE TABLE kev_entries (
    cve_id             TEXT PRIMARY KEY,
    vendor_project     TEXT NOT NULL,
    product            TEXT NOT NULL,
    vulnerability_name TEXT NOT NULL,
    date_added         TEXT NOT NULL,
    short_description  TEXT NOT NULL,
    required_action    TEXT NOT NULL,
    due_date           TEXT NOT NULL,
    ransomware         TEXT NOT NULL,
    notes              TEXT NOT NULL,
    cwes               TEXT NOT NULL
);

-- epss_scores: the EPSS scores of the newest EPSS import, one row per CVE.
CREATE TABLE epss_scores (
    cve        TEXT PRIMARY KEY,
    epss       DOUBLE PRECISION NOT NULL,
    percentile DOUBLE PRECISION NOT NULL
);

-- zone_conduits: what a zone's conduits reach: another zone (target_kind 'zone',
-- target_zone_id set) or an outside network by kind ('enterprise', 'remote_access', 'internet',
-- 'vendor'; target_zone_id ''). A zone is exposed when a conduit reaches a zone of a lower
-- SL-T or an outside network.
CREATE TABLE zone_conduits (
    zone_id        TEXT NOT NULL REFERENCES zones(id),
    target_kind    TEXT NOT NULL,
    target_zone_id TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (zone_id, target_kind, target_zone_id)
);
