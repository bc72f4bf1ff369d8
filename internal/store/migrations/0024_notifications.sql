-- Notifications (internal/notify): who is told of what, and how each delivery went.
--
-- subscriptions: a person's (user_id) or a whole role's (role) wish to be told of one kind of
-- event by e-mail at address. hours_before is the lead time of window_opening (0 otherwise).
CREATE TABLE subscriptions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL DEFAULT '',
    kind         TEXT NOT NULL,
    email        TEXT NOT NULL,
    hours_before INTEGER NOT NULL DEFAULT 0,
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   {{TS}} NOT NULL
);
CREATE INDEX subscriptions_user ON subscriptions (user_id, created_at);
CREATE INDEX subscriptions_kind ON subscriptions (kind);

-- webhooks: receivers of CloudEvents, each signed with its own secret. kinds is the comma
-- separated list of kinds it is sent (empty: every kind).
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    kinds      TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at {{TS}} NOT NULL
);

-- notification_deliveries: every attempt to deliver a notification (the delivery log).
-- target is the webhook id or the e-mail address; status sent or failed.
CREATE TABLE notification_deliveries (
    id               TEXT PRIMARY KEY,
    notification_key TEXT NOT NULL,
    kind             TEXT NOT NULL,
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    status           TEXT NOT NULL,
    http_status      INTEGER NOT NULL DEFAULT 0,
    error            TEXT NOT NULL DEFAULT '',
    at               {{TS}} NOT NULL
);
CREATE INDEX notification_deliveries_target ON notification_deliveries (target, at);

-- notification_cursor: the last audit event the dispatcher turned into notifications.
CREATE TABLE notification_cursor (
    id  INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL
);

-- notification_keys: clock-driven notifications already sent (window opening, NERC CIP due and
-- overdue, drill overdue), so the schedule that checks the clock tells each once.
CREATE TABLE notification_keys (
    key     TEXT PRIMARY KEY,
    sent_at {{TS}} NOT NULL
);
