-- Web UI sessions: a signed-in browser holds a random session id in an HttpOnly cookie; only
-- its SHA-256 is kept. A session acts as the token it was opened with, so revoking the token
-- ends its sessions.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    token_id     TEXT NOT NULL REFERENCES tokens(id),
    created_at   {{TS}} NOT NULL,
    last_seen_at {{TS}} NOT NULL,
    expires_at   {{TS}} NOT NULL,
    ended_at     {{TS}}
);
CREATE INDEX sessions_expires ON sessions (expires_at);
