-- Presigned artifact uploads: a vendor's admitted manifest waiting for its artifacts to arrive
-- in the object store.
CREATE TABLE patch_uploads (
    id              TEXT PRIMARY KEY,
    vendor_id       TEXT NOT NULL REFERENCES vendors(id),
    actor           TEXT NOT NULL,
    manifest        TEXT NOT NULL,
    signature       TEXT NOT NULL,
    state           TEXT NOT NULL,
    expires_at      {{TS}} NOT NULL,
    created_at      {{TS}} NOT NULL
);
CREATE INDEX patch_uploads_state ON patch_uploads (state, expires_at);
