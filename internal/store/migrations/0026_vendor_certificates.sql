-- A vendor's secure development certificates (IEC 62443-4-1 and the like) on file: the
-- uploaded document lives in the object store under object_key, with its size and SHA-256;
-- the row holds what the asset owner read from it. expires_on is a UTC calendar date kept as
-- TEXT 'YYYY-MM-DD'; maturity_level is 1 to 4 (IEC 62443-4-1 ML1-ML4), 0 when the document
-- states none. Rows are never changed: a renewed certificate is a new upload. {{TS}} is
-- TIMESTAMP on SQLite and TIMESTAMPTZ on PostgreSQL.
CREATE TABLE vendor_certificates (
    id             TEXT PRIMARY KEY,
    vendor_id      TEXT NOT NULL REFERENCES vendors(id),
    standard       TEXT NOT NULL,
    maturity_level INTEGER NOT NULL DEFAULT 0,
    issuer         TEXT NOT NULL,
    expires_on     TEXT NOT NULL,
    file_name      TEXT NOT NULL DEFAULT '',
    object_key     TEXT NOT NULL,
    size           BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    uploaded_by    TEXT NOT NULL,
    uploaded_at    {{TS}} NOT NULL
);
CREATE INDEX vendor_certificates_vendor ON vendor_certificates (vendor_id, uploaded_at);
