-- Vendor intake: revocation reasons, the qualification report, superseded patches and
-- idempotent submissions.
ALTER TABLE vendor_keys ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE patches ADD COLUMN report TEXT NOT NULL DEFAULT '{}';
ALTER TABLE patches ADD COLUMN superseded_by TEXT NOT NULL DEFAULT '';

CREATE TABLE idempotency_keys (
    actor      TEXT NOT NULL,
    key        TEXT NOT NULL,
    status     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at {{TS}} NOT NULL,
    PRIMARY KEY (actor, key)
);
