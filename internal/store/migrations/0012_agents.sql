-- Pull agents: an agent inside the control zone polls otpatch over HTTPS with a token bound to
-- one asset, fetches jobs signed with the server's job-signing key, and reports their results.
--
-- agent_credentials: one asset per credential. The token itself is a row of tokens with role
-- "agent" (only its SHA-256 is kept there); revoking the credential revokes that token.
CREATE TABLE agent_credentials (
    id           TEXT PRIMARY KEY,
    asset_id     TEXT NOT NULL REFERENCES assets(id),
    token_id     TEXT NOT NULL UNIQUE REFERENCES tokens(id),
    created_by   TEXT NOT NULL,
    created_at   {{TS}} NOT NULL,
    revoked_at   {{TS}},
    last_seen_at {{TS}}
);
CREATE INDEX agent_credentials_asset ON agent_credentials (asset_id);

-- agent_jobs: one backup, deploy, verify or restore of one asset. idempotency_key carries the
-- campaign (campaign/asset/op, or the workflow's activity for backup and verify), so an
-- activity retry finds the job it created instead of making a second one. payload is the
-- signed JSON the agent verifies; artifact_key is the object the agent downloads (the patch
-- artifact, or the staged backup of a restore); upload_key is where a backup upload is staged.
CREATE TABLE agent_jobs (
    id              TEXT PRIMARY KEY,
    asset_id        TEXT NOT NULL REFERENCES assets(id),
    op              TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt         INTEGER NOT NULL DEFAULT 1,
    payload         TEXT NOT NULL,
    signature       TEXT NOT NULL,
    state           TEXT NOT NULL,
    result          TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT '',
    artifact_key    TEXT NOT NULL DEFAULT '',
    upload_key      TEXT NOT NULL DEFAULT '',
    upload_sha256   TEXT NOT NULL DEFAULT '',
    upload_size     BIGINT NOT NULL DEFAULT 0,
    created_at      {{TS}} NOT NULL,
    updated_at      {{TS}} NOT NULL,
    started_at      {{TS}},
    progress_at     {{TS}},
    finished_at     {{TS}},
    UNIQUE (asset_id, op, idempotency_key)
);
CREATE INDEX agent_jobs_queue ON agent_jobs (asset_id, state, created_at);

-- agent_signing_keys: the public keys the workers sign jobs with, for agents' operators to pin.
CREATE TABLE agent_signing_keys (
    fingerprint TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    created_at  {{TS}} NOT NULL
);
