-- CSAF 2.0 security advisories: the document as received and the flattened model otpatch
-- matches against the inventory (internal/csaf). One row per tracking id; a newer revision
-- replaces the row.
CREATE TABLE advisories (
    id              TEXT PRIMARY KEY,
    tracking_id     TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    publisher       TEXT NOT NULL,
    released_at     {{TS}} NOT NULL,
    current_release {{TS}} NOT NULL,
    document        TEXT NOT NULL,
    summary         TEXT NOT NULL,
    created_at      {{TS}} NOT NULL
);
CREATE INDEX advisories_current_release ON advisories (current_release);
