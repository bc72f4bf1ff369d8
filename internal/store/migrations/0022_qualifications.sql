-- The asset owner's qualification of patches per product release (internal/domain,
-- qualification.go): set by engineers or imported from a vendor's published qualification
-- list. A patch is named by an otpatch patch id or by the vendor's update id (KB5034441), which
-- is matched against patches' patch_ref. Rows are never changed or deleted: a change is a new
-- revision of its (patch, product, release) and the one before stops being current, so the
-- history shows when a hold was set and when it was lifted. The *_key columns hold the
-- lower-case forms the entries are matched by. {{TS}} is TIMESTAMP on SQLite and TIMESTAMPTZ
-- on PostgreSQL.
CREATE TABLE qualification_entries (
    id            TEXT PRIMARY KEY,
    patch_ref     TEXT NOT NULL,
    product       TEXT NOT NULL,
    release_name  TEXT NOT NULL,
    ref_key       TEXT NOT NULL,
    product_key   TEXT NOT NULL,
    release_key   TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    is_current    BOOLEAN NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL,
    source_vendor TEXT NOT NULL DEFAULT '',
    source_list   TEXT NOT NULL DEFAULT '',
    source_date   TEXT NOT NULL DEFAULT '',
    import_id     TEXT NOT NULL DEFAULT '',
    set_by        TEXT NOT NULL,
    set_at        {{TS}} NOT NULL,
    UNIQUE (ref_key, product_key, release_key, revision)
);
-- The current entries of a patch (plan time, the patch page) and pages of the current list.
CREATE INDEX qualification_entries_current ON qualification_entries (is_current, ref_key, product_key, release_key);
