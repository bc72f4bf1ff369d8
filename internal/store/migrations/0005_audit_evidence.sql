-- Audit queries by actor, action and time; NERC CIP-007-6 R2 patch evaluations and
-- mitigation plans. {{TS}} is TIMESTAMP on SQLite and TIMESTAMPTZ on PostgreSQL.
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_at ON audit_events (at);
