-- People, not tokens. A user is a person with a unique, stable username; roles are granted to
-- users; every personal token and every browser session belongs to one user and acts in one
-- role he holds.
--
-- users: a local account (password_hash, Argon2id in PHC form) or a single sign-on account
-- (oidc_issuer + oidc_subject, the IdP's subject). vendor_id binds a vendor's staff to their
-- vendor. failed_sign_ins and locked_until are the lockout; totp_secret is the second factor,
-- on once totp_enabled_at is set; totp_last_step refuses a code used twice.
-- password_issued_by is the admin who created the account with, or reset it to, a password
-- he handed over: he knows or knew it, so he may not confirm a privileged role for the account.
CREATE TABLE users (
    id                   TEXT PRIMARY KEY,
    username             TEXT NOT NULL UNIQUE,
    display_name         TEXT NOT NULL DEFAULT '',
    vendor_id            TEXT REFERENCES vendors(id),
    oidc_issuer          TEXT,
    oidc_subject         TEXT,
    password_hash        TEXT,
    password_set_at      {{TS}},
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    password_issued_by   TEXT,
    failed_sign_ins      INTEGER NOT NULL DEFAULT 0,
    locked_until         {{TS}},
    totp_secret          TEXT,
    totp_enabled_at      {{TS}},
    totp_last_step       BIGINT NOT NULL DEFAULT 0,
    created_at           {{TS}} NOT NULL,
    created_by           TEXT NOT NULL,
    disabled_at          {{TS}}
);
CREATE UNIQUE INDEX users_oidc ON users (oidc_issuer, oidc_subject);

-- password_history: the hashes of a user's earlier passwords, for "no reuse of the last N".
CREATE TABLE password_history (
    user_id       TEXT NOT NULL REFERENCES users(id),
    password_hash TEXT NOT NULL,
    set_at        {{TS}} NOT NULL
);
CREATE INDEX password_history_user ON password_history (user_id, set_at);

-- role_grants: who holds which role since when. A grant is active once confirmed and until
-- revoked. A privileged role (approver, safety, admin) asked by one admin is confirmed by
-- another (two-person rule); other roles are confirmed when asked. source: admin, oidc (the
-- IdP's group mapping, kept in step at each sign-in), bootstrap (the first admins, made with
-- the server's database), demo, migration (tokens made before users existed).
CREATE TABLE role_grants (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    role         TEXT NOT NULL,
    source       TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at {{TS}} NOT NULL,
    confirmed_by TEXT,
    confirmed_at {{TS}},
    ended_by     TEXT,
    ended_at     {{TS}}
);
CREATE INDEX role_grants_user ON role_grants (user_id, role);

-- Personal tokens belong to a user and act in one role he holds (role). Tokens made before
-- users existed become their holder's: one user per holder name, with a grant per role they
-- carried, listed with source "migration" for an admin to review.
ALTER TABLE tokens ADD COLUMN user_id TEXT REFERENCES users(id);
-- parent_token_id is the token a token was minted with: revoking it revokes this one too.
ALTER TABLE tokens ADD COLUMN parent_token_id TEXT REFERENCES tokens(id);
INSERT INTO users (id, username, created_at, created_by)
    SELECT 'usr_' || name, name, MIN(created_at), 'migration' FROM tokens WHERE role <> 'agent' GROUP BY name;
UPDATE users SET vendor_id = (SELECT MIN(vendor_id) FROM tokens WHERE tokens.name = users.username AND tokens.vendor_id IS NOT NULL);
-- Only tokens that still work carry a role over. Approver and safety roles minted by one admin
-- are exactly what the two-person rule is for: they come over pending, for two admins to
-- confirm; the other roles, admin included (someone must be able to confirm), come over active.
INSERT INTO role_grants (id, user_id, role, source, requested_by, requested_at, confirmed_by, confirmed_at)
    SELECT 'grt_' || name || '_' || role, 'usr_' || name, role, 'migration', 'migration', MIN(created_at), 'migration', MIN(created_at)
    FROM tokens WHERE role NOT IN ('agent', 'approver', 'safety') AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP) GROUP BY name, role;
INSERT INTO role_grants (id, user_id, role, source, requested_by, requested_at)
    SELECT 'grt_' || name || '_' || role, 'usr_' || name, role, 'migration', 'migration', MIN(created_at)
    FROM tokens WHERE role IN ('approver', 'safety') AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP) GROUP BY name, role;
UPDATE tokens SET user_id = 'usr_' || name WHERE role <> 'agent';

-- Sessions belong to a user, act in one role, and remember how they were opened; a session
-- opened with a token still ends with it. Sessions open before this version end: their
-- holders sign in again.
DROP TABLE sessions;
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    role         TEXT NOT NULL,
    method       TEXT NOT NULL,
    token_id     TEXT REFERENCES tokens(id),
    remote       TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   {{TS}} NOT NULL,
    last_seen_at {{TS}} NOT NULL,
    expires_at   {{TS}} NOT NULL,
    ended_at     {{TS}}
);
CREATE INDEX sessions_user ON sessions (user_id, ended_at);
CREATE INDEX sessions_expires ON sessions (expires_at);
