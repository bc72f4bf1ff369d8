-- CSAF feeds (otpatch feeds): providers whose advisories are fetched on a schedule.
-- url is the provider-metadata.json URL (what the person gave, a domain, is resolved to it);
-- ca_pem an extra CA that may sign the provider's HTTPS certificate (a plant's own mirror);
-- fingerprints the OpenPGP key fingerprints the person pinned (comma separated, upper-case
-- hex; empty: the keys the provider metadata lists); trusted the fingerprints whose keys the
-- last sync verified, which an offline sync of the same provider trusts too.
-- interval_minutes is 0 for a feed only ever synced offline (no schedule).
CREATE TABLE feeds (
    id               TEXT PRIMARY KEY,
    url              TEXT NOT NULL,
    ca_pem           TEXT NOT NULL DEFAULT '',
    fingerprints     TEXT NOT NULL DEFAULT '',
    trusted          TEXT NOT NULL DEFAULT '',
    interval_minutes INTEGER NOT NULL DEFAULT 0,
    publisher        TEXT NOT NULL DEFAULT '',
    last_sync_at     {{TS}},
    last_result      TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    ingested         INTEGER NOT NULL DEFAULT 0,
    unchanged        INTEGER NOT NULL DEFAULT 0,
    refused          INTEGER NOT NULL DEFAULT 0,
    created_by       TEXT NOT NULL DEFAULT '',
    created_at       {{TS}} NOT NULL
);
CREATE UNIQUE INDEX feeds_url ON feeds (url);

-- feed_documents: what the last sync that fetched each document of a feed saw. changed is
-- the time the provider gave for its last change (ROLIE updated, changes.csv); a document
-- whose changed time is the one stored and which was stored before is not fetched again.
CREATE TABLE feed_documents (
    feed_id         TEXT NOT NULL,
    url             TEXT NOT NULL,
    changed         {{TS}},
    tracking_id     TEXT NOT NULL DEFAULT '',
    revision        TEXT NOT NULL DEFAULT '',
    current_release {{TS}},
    sha256          TEXT NOT NULL DEFAULT '',
    outcome         TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    advisory_id     TEXT NOT NULL DEFAULT '',
    seen_at         {{TS}} NOT NULL,
    PRIMARY KEY (feed_id, url)
);
CREATE INDEX feed_documents_seen ON feed_documents (feed_id, seen_at);
